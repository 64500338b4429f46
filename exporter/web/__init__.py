"""The web assets (render.js, style.css, index.html) shared by the live page and the HTML report; a package so that
`importlib.resources` finds them in an installed wheel as well as in a checkout."""
