"""`clipwatch doctor`: what this machine can run, and the one-line summary of what a run skipped.

Thin: the checks are ``pipeline.doctor``; the summary lines are ``pipeline.components``.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console

from pipeline.cli.common import JsonFlag, print_json, rich_escape, settings
from pipeline.components import summary_lines
from pipeline.doctor import check_all

app = typer.Typer()


@app.command()
def doctor(
    offline: bool = typer.Option(False, "--offline", help="Leave out the configured servers (PostgreSQL, S3, Prefect)."),
    as_json: JsonFlag = False,
) -> None:
    """List each optional component (OCR data, Chromaprint, GPU, configured servers): what it enables, how to add it.

    Exits 1 only when something the current configuration needs is not usable (a configured PostgreSQL, object
    store or Prefect server that does not answer, or --device cuda without a GPU); a missing optional component
    only makes its stage skipped.
    """
    report = check_all(settings(), network=not offline)
    if as_json:
        print_json(report.to_dict())
    else:
        print_doctor(report, Console())
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def print_doctor(report: Any, console: Console) -> None:
    """One block per component (status, what it is and enables; where found or why not; how to add it), then one
    line per needed component that is not usable. Blocks, not a table: paths and commands stay whole on 80 columns."""
    colours = {"ok": "green", "not configured": "dim", "missing": "yellow", "corrupt": "red", "unreachable": "red"}
    for c in report.checks:
        colour = "bold red" if c.needed and not c.ok else colours.get(c.status, "white")
        console.print(f"[{colour}]{c.status:<14}[/] [bold]{rich_escape(c.component)}[/] — {rich_escape(c.enables)}",
                      highlight=False)
        if c.detail:
            console.print(f"{'':<15}[dim]{rich_escape(c.detail)}[/]", highlight=False)
        if c.status != "ok" and c.fix:
            console.print(f"{'':<15}add: {rich_escape(c.fix)}", highlight=False)
    console.print()
    for c in report.problems:
        console.print(f"[bold red]needed:[/] {rich_escape(c.component)} is {c.status}: {rich_escape(c.fix)}",
                      highlight=False)
    if not report.problems:
        console.print("Everything the current configuration needs is here; a stage whose optional component is "
                      "missing is skipped and says how to add it.", highlight=False)


def print_skipped(report: Any, console: Console) -> None:
    """Once per run (ingest, demo, reprocess): each optional component a stage went without, and how to add it."""
    for line in summary_lines(getattr(report, "needs", ())):
        console.print(f"[yellow]{rich_escape(line)}[/]", highlight=False)
