"""The `clipwatch` command: a thin layer over the library (the root in app.py, one module per room, common.py)."""

from pipeline.cli.app import app, main

__all__ = ["app", "main"]
