"""The `clipwatch` command: a thin layer over the library (see app.py)."""

from pipeline.cli.app import app, main

__all__ = ["app", "main"]
