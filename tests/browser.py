"""Headless Chromium (Debian `chromium`, installed by .ci/run) with the flags a closed network needs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--virtual-time-budget=4000",
)


def chromium(profile_parent: Path, *args: str, wait: bool = True) -> str:
    """Run chromium with a fresh profile under `profile_parent`; returns its stdout (e.g. with --dump-dom).
    `wait=False`: no virtual time for scripts and timers, only the page as loaded (what a first paint shows)."""
    binary = shutil.which("chromium")
    assert binary, "chromium is missing: .ci/run installs it (apt-get install -y chromium)"
    profile = profile_parent / f"chromium-profile-{len(list(profile_parent.glob('chromium-profile-*')))}"
    proc = subprocess.run(
        [binary, *(FLAGS if wait else FLAGS[:-1]), f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    return proc.stdout
