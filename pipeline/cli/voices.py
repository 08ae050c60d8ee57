"""`clipwatch voices`: who speaks in a video, where else each voice speaks, and naming a voice (issue 24).

``clipwatch voices ID [--speaker S1] [--json]`` (the default subcommand, ``show``) and
``clipwatch voices name VIDEO:S1 "Name"``. The voices room of the CLI (``ROOMS`` in ``pipeline/cli/app.py``).
"""

from __future__ import annotations

from typing import Optional

import typer
import typer.core

from pipeline.cli.common import JsonFlag, console, fmt_time, open_store, print_json, rich_escape
from pipeline.speakers.voices import name_voice, voices_report


class _DefaultShow(typer.core.TyperGroup):
    """``voices ID`` means ``voices show ID``: anything that is not a subcommand is a video id."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        return super().parse_args(ctx, args)


app = typer.Typer()
voices_app = typer.Typer(cls=_DefaultShow, no_args_is_help=True,
                         help="Who speaks in a video, where else each voice speaks; name a voice.")
app.add_typer(voices_app, name="voices")


@voices_app.command("show")
def voices_show(
    video_id: str = typer.Argument(..., help="A video id (or an unambiguous prefix)."),
    speaker: Optional[str] = typer.Option(None, "--speaker", help="Only this speaker (S1, S2, …)."),
    as_json: JsonFlag = False,
) -> None:
    """List a video's speakers and where else each voice speaks (similarity, minutes of speech)."""
    with open_store(reading=True) as store:
        report = voices_report(store, video_id, speaker)
    if as_json:
        print_json(report)
        return
    if not report["speakers"]:
        console.print(f"{report['video_id']}: no speakers (silent, music only, too little speech, "
                      "or the speakers stage has not run: clipwatch reprocess)", highlight=False)
        return
    for sp in report["speakers"]:
        name = f" {rich_escape(sp['name'])}" if sp["name"] else ""
        turns = [t for t in report["turns"] if t["speaker"] == sp["speaker"]]
        console.print(f"[bold]{sp['speaker']}[/]{name}  {sp['seconds'] / 60:.1f} min in {len(turns)} turns "
                      f"(first at {fmt_time(turns[0]['start']) if turns else '—'})", highlight=False)
        if not sp["matches"]:
            console.print("  [dim]not heard elsewhere in the archive[/]", highlight=False)
        for m in sp["matches"]:
            weak = "  [yellow](weak: under 10 s of speech)[/]" if m["weak"] else ""
            console.print(f"  {m['similarity']:.2f}  {m['video_id']}:{m['speaker']}  {m['seconds'] / 60:.1f} min{weak}",
                          highlight=False)


@voices_app.command("name")
def voices_name(
    voice: str = typer.Argument(..., help="The voice: VIDEO:S1."),
    name: str = typer.Argument(..., help="The name people know the voice by."),
    as_json: JsonFlag = False,
) -> None:
    """Name a voice (kept when the speakers are found again; recorded as a `voice-named` event); search by it."""
    with open_store() as store:
        done = name_voice(store, voice, name)
    if as_json:
        print_json(done)
        return
    was = f" (was {rich_escape(done['previous'])})" if done["previous"] else ""
    console.print(f"{done['video_id']}:{done['speaker']} is now {rich_escape(done['name'])}{was}", highlight=False)
