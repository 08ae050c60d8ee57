"""Generated documentation: command output pasted into the docs by cog and checked by the tests.

``cog -r docs/cli.md`` regenerates; ``tests/cli/test_docs.py`` fails when a doc no longer matches what the code prints.
"""

from __future__ import annotations

import os

import typer.main
from typer.testing import CliRunner

from pipeline.cli.app import app

WIDTH = "100"


def cli_help(*args: str) -> str:
    """`clipwatch ARGS --help` as a user sees it in a 100-column terminal, without colour."""
    env = {"COLUMNS": WIDTH, "NO_COLOR": "1", "TERM": "dumb", "_TYPER_FORCE_DISABLE_TERMINAL": "1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        res = CliRunner().invoke(app, [*args, "--help"], prog_name="clipwatch", color=False)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    text = "\n".join(line.rstrip() for line in res.output.splitlines()).strip("\n")
    return f"```\n$ clipwatch {' '.join(args)} --help\n{text}\n```\n".replace("clipwatch  --help", "clipwatch --help")


def all_commands() -> list[list[str]]:
    """Every command path of the CLI, groups first then their subcommands, in the order `--help` lists them."""
    root = typer.main.get_command(app)
    out: list[list[str]] = []

    def walk(cmd, path):
        for name, sub in getattr(cmd, "commands", {}).items():
            out.append([*path, name])
            walk(sub, [*path, name])

    walk(root, [])
    return out
