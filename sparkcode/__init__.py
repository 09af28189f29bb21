"""sparkcode: a local-first coding assistant whose whole loop is fast."""

__version__ = "0.1.0"
