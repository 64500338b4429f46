"""luigi-exporter: the truth about Luigi runs, read from the logs Luigi already writes."""

__version__ = "0.1.0"
