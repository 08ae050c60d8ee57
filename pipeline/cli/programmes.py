"""A recorded channel's programmes: `programmes CHANNEL --date D` (list, `--find` to detect) and `programmes ident`
(the programmes room, issue 25)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
import typer.core

from pipeline.cli.common import JsonFlag, console, err_console, open_store, print_json, rich_escape, settings
from pipeline.programmes.day import check_channel, day_span, find_day, read_day
from pipeline.programmes.idents import ident_from_file
from pipeline.storage.base import blob_store_for


class _ChannelFirst(typer.core.TyperGroup):
    """`programmes CHANNEL …` runs `programmes show CHANNEL …`: a first word that names no subcommand is a channel."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["show", *args]
        return super().parse_args(ctx, args)


app = typer.Typer()
programmes_app = typer.Typer(cls=_ChannelFirst, no_args_is_help=True,
                             help="Programmes of a recorded channel: `programmes CHANNEL --date D` lists a day's "
                                  "(--find detects them), `programmes ident add` marks a station ident.")
ident_app = typer.Typer(no_args_is_help=True, help="Station idents and jingles that mark programme junctions.")
programmes_app.add_typer(ident_app, name="ident")
app.add_typer(programmes_app, name="programmes")


def _clock(iso_text: str) -> str:
    return iso_text[11:19] if iso_text else "?"


@programmes_app.command("show")
def show(
    channel: str = typer.Argument(..., help="The channel id (as given to `clipwatch record --channel`)."),
    date: str = typer.Option(..., "--date", help="The day, YYYY-MM-DD (UTC)."),
    find: bool = typer.Option(False, "--find", help="Detect the day's programmes again from its recorded segments."),
    as_json: JsonFlag = False,
) -> None:
    """List a channel's programmes on one day (`programmes CHANNEL --date D`); --find detects them first."""
    check_channel(channel)
    day_span(date)  # a bad date fails before the archive is opened
    s = settings()
    with open_store(s, reading=not find) as store:
        if find:
            def tick(rec: Any) -> None:
                if not as_json:
                    err_console.print(f"read {rich_escape(rec.path.name)}", highlight=False)

            find_day(store, blob_store_for(s), channel, date, tick)
        day = read_day(store, channel, date)
    if as_json:
        print_json(day)
        return
    progs = day["programmes"]
    console.print(f"{rich_escape(channel)} · {day['date']} (UTC): {len(progs)} programmes, "
                  f"{len(day['segments'])} segments, {len(day['gaps'])} gaps", highlight=False)
    if not progs and not find:
        console.print("  none found yet: run with --find to detect them from the recorded segments", highlight=False)
    for p in progs:
        kinds = sorted({c["kind"] for c in (p["evidence"].get("start") or {}).get("cues", [])})
        title = rich_escape(p["title"]) if p["title"] else "[dim](no title)[/dim]"
        source = f" [{p['title_source']}]" if p["title_source"] else ""
        console.print(f"  {_clock(p['air_start'])}–{_clock(p['air_end'])}  {title}{rich_escape(source)}"
                      f"  ({'+'.join(kinds) or 'recording start'})", highlight=False)
    for g in day["gaps"]:
        console.print(f"  gap {_clock(g['start'])}–{_clock(g['end'])} ({g['seconds']} s, "
                      f"{rich_escape(str(g['reason'] or 'no reason given'))})", highlight=False)


@ident_app.command("add")
def ident_add(
    channel: str = typer.Argument(..., help="The channel id the ident belongs to."),
    media: Path = typer.Argument(..., help="A media file in which the ident plays (a recorded segment, a clip)."),
    start: float = typer.Option(..., "--start", help="Where the ident starts in MEDIA (seconds)."),
    end: float = typer.Option(..., "--end", help="Where it ends (seconds)."),
    name: str = typer.Option(..., "--name", help="What to call it (shown as evidence)."),
    as_json: JsonFlag = False,
) -> None:
    """Mark a station ident or programme jingle once; `programmes --find` then finds it wherever it airs."""
    check_channel(channel)
    ident = ident_from_file(media, start, end, name, channel)
    with open_store() as store:
        ident_id = store.add_ident(channel, name, ident.fingerprint, ident.duration)
    data = {"id": ident_id, "channel": channel, "name": name, "duration": round(ident.duration, 3),
            "items": len(ident.items)}
    if as_json:
        print_json(data)
        return
    console.print(f"ident {ident_id} {rich_escape(name)!s} of {rich_escape(channel)}: {ident.duration:.1f} s "
                  f"({len(ident.items)} fingerprint items)", highlight=False)


@ident_app.command("list")
def ident_list(
    channel: str = typer.Argument(..., help="The channel id."),
    as_json: JsonFlag = False,
) -> None:
    """List a channel's marked idents."""
    check_channel(channel)
    with open_store(reading=True) as store:
        rows = [{"id": r["id"], "name": r["name"], "duration": round(float(r["duration"]), 3),
                 "created_at": r["created_at"]} for r in store.idents(channel)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print(f"no idents marked for {rich_escape(channel)}: `clipwatch programmes ident add`",
                      highlight=False)
    for r in rows:
        console.print(f"  {r['id']:>4}  {rich_escape(r['name'])}  {r['duration']:.1f} s  {r['created_at']}",
                      highlight=False)
