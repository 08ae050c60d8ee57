"""The `clipwatch` command: the root of a thin Typer + Rich layer over the library.

This module only builds the app: the options of the whole program (``--data-dir``, ``--verbose``, and ``--json``
typed before the command) and one line per room registering that room's commands. The commands live in their
rooms (``pipeline/cli/<room>.py``); what they share (consoles, the archive, the ``--json`` convention, error
lines) lives in ``pipeline/cli/common.py``. Every command that prints results takes ``--json``; a
ClipwatchError prints as one line on stderr and exits non-zero.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

import typer
import typer.core

from flows import disable_telemetry
from pipeline import __version__
from pipeline.cli import (
    capture,
    catalogue,
    copies,
    copyindex,
    delete,
    doctor,
    ingest,
    models,
    preservation,
    programmes,
    record,
    scale,
    search,
    serve,
    shots,
    tags,
    voices,
    watch,
)
from pipeline.cli.common import JsonFlag, console, print_json, report_errors, state
from pipeline.memory import limit_malloc_arenas

# Options of the whole program that users type after the command too (`clipwatch ingest URL --data-dir D`).
GLOBAL_VALUE_OPTIONS = ("--data-dir",)
GLOBAL_FLAGS = ("--verbose", "-v")

# The rooms, in the order `clipwatch --help` lists their commands. A new room is one module and one entry here.
ROOMS = (ingest, record, catalogue, search, voices, models, shots, copies, copyindex, tags, preservation, capture,
         watch, programmes, delete, scale, serve, doctor)


def hoist_global_options(args: list[str]) -> list[str]:
    """Move --data-dir/--verbose found after the command to the front, and a --json typed before it to the end.

    Tokens after a bare ``--`` are arguments and stay where they are.

    Arguments:
        args: The command line after the program name.

    Returns:
        The same tokens, reordered so that Click parses the global options as the root's and --json as the command's.
    """
    args = list(args)
    tail: list[str] = []
    if "--" in args:
        cut = args.index("--")
        args, tail = args[:cut], args[cut:]
    front: list[str] = []
    rest: list[str] = []
    trailing: list[str] = []
    seen_command = False
    i = 0
    while i < len(args):
        tok = args[i]
        if tok in GLOBAL_VALUE_OPTIONS and i + 1 < len(args):
            front += [tok, args[i + 1]]
            i += 2
            continue
        if tok.split("=", 1)[0] in GLOBAL_VALUE_OPTIONS or tok in GLOBAL_FLAGS:
            front.append(tok)
        elif tok == "--json" and not seen_command:
            trailing.append(tok)
        else:
            seen_command = seen_command or not tok.startswith("-")
            rest.append(tok)
        i += 1
    return front + rest + trailing + tail


class _GlobalOptionsGroup(typer.core.TyperGroup):
    def parse_args(self, ctx, args):
        return super().parse_args(ctx, hoist_global_options(args))


app = typer.Typer(
    cls=_GlobalOptionsGroup,
    name="clipwatch",
    help="Archive, transcribe, tag and search state-media video.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", envvar="CLIPWATCH_DATA", help="Archive folder (default ./data)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log details to stderr."),
) -> None:
    state.data_dir = data_dir
    state.verbose = verbose
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@app.command()
def version(as_json: JsonFlag = False) -> None:
    """Print the clipwatch version."""
    if as_json:
        print_json({"version": __version__})
        return
    console.print(f"clipwatch {__version__}")


for room in ROOMS:
    app.add_typer(room.app)  # no name: the room's commands and groups join the root's


def main() -> None:
    """The ``clipwatch`` entry point: Prefect's telemetry off, malloc arenas limited (``pipeline.memory``), then the
    app, failures as one ``error:`` line."""
    disable_telemetry()
    limit_malloc_arenas()
    report_errors(app)


if __name__ == "__main__":
    main()
