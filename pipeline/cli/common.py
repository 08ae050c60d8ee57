"""What every room of the CLI shares: the consoles, the archive a command works on, and one output convention.

Every command that prints results takes ``--json`` (the :data:`JsonFlag` option, the same everywhere) and then
writes nothing but UTF-8 JSON on stdout (:func:`print_json`); progress and notes go to stderr. ``--data-dir`` /
``CLIPWATCH_DATA`` (kept in :data:`state` by the root callback) points any command at another archive.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Callable, Iterable, TypeVar

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from flows import configure_prefect
from pipeline.asr.subtitles import clock as fmt_time
from pipeline.config import Settings
from pipeline.display import SafeConsole
from pipeline.display import safe_markup as rich_escape  # untrusted text: markup and control characters
from pipeline.errors import ClipwatchError, DiskFullError, QueryError, describe_os_error
from pipeline.storage.base import Catalogue, catalogue_for
from pipeline.storage.files import fs_display
from pipeline.translate import get_translator

__all__ = [
    "JsonFlag", "TRANSLATOR_HELP", "bytes_progress", "check_translator", "console", "cron_times", "disk_full_guard",
    "err_console", "fmt_time", "open_store", "output_format", "prefect_settings", "print_error", "print_json",
    "print_rows", "rich_escape", "scale_out_api", "settings", "short", "state",
]

console = SafeConsole()
err_console = SafeConsole(stderr=True)

T = TypeVar("T")

# The one output option of the CLI: every command that prints results takes it, with this name and this help.
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON (stable keys; see README).")]

TRANSLATOR_HELP = "whisper (its translate task, default) or ct2:NAME (a CTranslate2 translation model: `models pull NAME`)."


class State:
    """Options of the whole program, set by the root callback before any command runs."""

    data_dir: Path | None = None
    verbose: bool = False


state = State()


def settings(**overrides: Any) -> Settings:
    """The settings for this run: environment and defaults, then ``--data-dir``, then the command's own options.

    Arguments:
        overrides: Settings fields the command sets; None means "not given" and is left out.

    Returns:
        A fresh :class:`Settings`.
    """
    kwargs = {k: v for k, v in overrides.items() if v is not None}
    if state.data_dir is not None:
        kwargs.setdefault("data_dir", state.data_dir)
    return Settings(**kwargs)


def open_store(s: Settings | None = None, reading: bool = False) -> Catalogue:
    """The catalogue of the archive a command works on.

    Arguments:
        s: The settings (default: :func:`settings`).
        reading: True for a command that only reads: a read-only archive then opens read-only.

    Returns:
        The catalogue (clipwatch.db, or PostgreSQL with CLIPWATCH_DATABASE_URL, with the same methods), to use in a
        ``with`` block.
    """
    s = s or settings()
    if reading:
        return catalogue_for(s, reading=True)
    s.ensure_dirs()
    return catalogue_for(s)


def print_json(obj: Any) -> None:
    """Machine-readable output: UTF-8 JSON on stdout, nothing else.

    Arguments:
        obj: Anything ``json.dumps`` takes; other values (paths, dates) are written as their ``str``.
    """
    sys.stdout.write(fs_display(json.dumps(obj, ensure_ascii=False, indent=2, default=str)) + "\n")


def print_error(message: str) -> None:
    """The one ``error:`` line the CLI prints for a failure a user can fix (on stderr)."""
    err_console.print(f"[bold red]error:[/] {rich_escape(fs_display(message))}", highlight=False, soft_wrap=True)


def report_errors(run: Callable[[], Any]) -> None:
    """Run the CLI; a ClipwatchError or an environment failure (full disk, read-only folder) is one line and an exit
    status, never a traceback.

    Arguments:
        run: The Typer app to call.
    """
    try:
        run()
    except ClipwatchError as exc:
        print_error(str(exc))
        sys.exit(exc.exit_code)
    except OSError as exc:
        # The environment, not a bug: a full disk, a read-only or vanished folder. One line, what to do.
        print_error(describe_os_error(exc))
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


def output_format(as_json: bool, fmt: str | None, default: str | None, formats: Iterable[str]) -> str | None:
    """The format a command with both ``--json`` and ``--format`` writes: ``--json`` is ``--format json``.

    Arguments:
        as_json: The command's ``--json``.
        fmt: Its ``--format`` (None when not given).
        default: The ``--format`` default (None when the option has none); given together with ``--json`` it is
            overridden, any other format is a contradiction.
        formats: The formats the command writes.

    Returns:
        The format, lower-cased; None when neither option was given and there is no default.
    """
    formats = tuple(formats)
    fmt = fmt.lower() if fmt is not None else None
    if fmt is not None and fmt not in formats:
        raise QueryError(f"--format {fmt!r}: choose one of: {', '.join(formats)}")
    if as_json:
        if fmt not in (None, default, "json"):
            raise QueryError(f"--json and --format {fmt} contradict each other: choose one")
        return "json"
    return fmt


def print_rows(rows: list[dict[str, Any]], cols: list[str], as_json: bool, empty: str) -> None:
    """Rows as JSON (every key) or as a table of ``cols``; ``empty`` is said when there are none."""
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print(empty)
        return
    table = Table()
    for c in cols:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*(rich_escape(str(r.get(c) if r.get(c) is not None else "—")) for c in cols))
    console.print(table)


def short(text: str, n: int = 48) -> str:
    """``text`` cut to ``n`` characters with an ellipsis."""
    return text if len(text) <= n else text[: n - 1] + "…"


def bytes_progress() -> Progress:
    """A transient progress bar in bytes (with speed and time left) on stderr."""
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    TimeRemainingColumn(), console=err_console, transient=True)


def check_translator(s: Settings, wanted: bool | None = None):
    """Load a CTranslate2 translator before any work (one error line when its model is not pulled).

    Arguments:
        s: The settings (``translate``, ``translator``).
        wanted: Whether a translation is wanted (default: ``s.translate``).

    Returns:
        The translator; None for Whisper's, which needs nothing more than the transcription model.
    """
    if not (s.translate if wanted is None else wanted) or s.translator == "whisper":
        return None
    return get_translator(s.translator, s)


def scale_out_api() -> str | None:
    """The Prefect server named by PREFECT_API_URL: set, ingest fans out to work pools; unset, it runs here."""
    return os.environ.get("PREFECT_API_URL") or None


def prefect_settings(quiet: bool | None = None) -> Settings:
    """The settings, the archive folder made, and Prefect configured for this process (call before using Prefect).

    Arguments:
        quiet: Hide Prefect's own log lines (default: unless ``--verbose``).

    Returns:
        The settings.
    """
    s = settings()
    s.ensure_dirs()
    configure_prefect(s, quiet=not state.verbose if quiet is None else quiet)
    return s


def cron_times(cron: str, count: int) -> list[datetime]:
    """The next ``count`` times a ``--cron`` expression fires; a bad one is one error line with an example."""
    from flows.monitor import next_run_times  # imports Prefect, which reads its settings on first import

    try:
        return next_run_times(cron, datetime.now(timezone.utc), count)
    except ValueError as exc:
        raise ClipwatchError(f"{exc}; e.g. --cron \"0 */6 * * *\" (every 6 hours)") from exc


def disk_full_guard(s: Settings, run: Callable[[], T]) -> T:
    """Run ``run()``; whatever it raises, a full disk under the archive is said in one line.

    Prefect keeps its own state on the archive's disk: when that disk fills, Prefect fails in its own words (often
    many lines).

    Arguments:
        s: The settings (the archive folder whose disk is checked).
        run: The work.

    Returns:
        What ``run`` returns.
    """
    try:
        return run()
    except ClipwatchError:
        raise
    except Exception as exc:
        try:
            free = shutil.disk_usage(s.data_dir).free
        except OSError:
            free = None
        if free is not None and free < 1 << 20:
            raise DiskFullError(f"the disk holding {s.data_dir} is full; the batch stopped and everything archived "
                                "before is kept — free some space and run the same ingest again") from exc
        raise
