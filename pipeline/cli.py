"""The `clipwatch` command: a thin Typer + Rich layer over the library.

Every command that prints results takes --json (stable keys, see README), and
--data-dir / CLIPWATCH_DATA points any command at another archive. A
ClipwatchError prints as one line on stderr and exits non-zero.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from . import __version__
from .config import Settings
from .errors import ClipwatchError
from .store import Store

app = typer.Typer(
    name="clipwatch",
    help="Archive, transcribe, tag and search state-media video.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


class State:
    data_dir: Path | None = None
    verbose: bool = False


state = State()


def settings(**overrides: Any) -> Settings:
    kwargs = {k: v for k, v in overrides.items() if v is not None}
    if state.data_dir is not None:
        kwargs.setdefault("data_dir", state.data_dir)
    return Settings(**kwargs)


def open_store(s: Settings | None = None) -> Store:
    s = s or settings()
    s.ensure_dirs()
    return Store(s.db_path)


def print_json(obj: Any) -> None:
    """Machine-readable output: UTF-8 JSON on stdout, nothing else."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


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
def version() -> None:
    """Print the clipwatch version."""
    console.print(f"clipwatch {__version__}")


# -- commands: ingest / demo (lead) --

# -- commands: list / show (lead) --

# -- commands: search (search engineer) --

# -- commands: transcribe / models (transcription engineer) --

# -- commands: shots / similar / match (keyframes engineer) --

# -- commands: tags (tagging engineer) --

# -- commands: verify / monitor / history / export (preservation engineer) --

# -- commands: serve (web engineer) --


def main() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    try:
        app()
    except ClipwatchError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
