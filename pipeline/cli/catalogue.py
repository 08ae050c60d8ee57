"""Reading the catalogue: `list`, `show`, `history`, `events` (the catalogue room)."""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.table import Table

from pipeline import records
from pipeline.cli.common import JsonFlag, console, fmt_time, open_store, print_json, rich_escape, settings
from pipeline.cli.copies import print_copies
from pipeline.cli.removals import event_line
from pipeline.domain import to_unsigned64
from pipeline.preservation.history import history as metadata_history
from pipeline.preservation.removals import retracted_ids, retractions

app = typer.Typer()


@app.command("list")
def list_videos(
    limit: int = typer.Option(200, "--limit", min=1),
    as_json: JsonFlag = False,
) -> None:
    """List archived videos: id, title, channel, upload date, duration, status, top tags."""
    with open_store(reading=True) as store:
        rows = []
        withdrawn = retracted_ids(store)
        for v in store.list_videos(limit):
            tags = [t for t in store.tags(v["id"]) if t["decision"]]
            rows.append({
                "id": v["id"], "title": v["title"], "channel": v["channel"], "upload_date": v["upload_date"],
                "duration": v["duration"], "status": v["status"], "language": v["language"],
                "tags": {t["category"]: round(t["score"], 3) for t in tags},
            } | ({"removal_retracted": True} if v["id"] in withdrawn else {})
              | _air(store.stream_segment(v["id"])))
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("The archive is empty: `clipwatch ingest URL` or `clipwatch demo`.")
        return
    table = Table()
    for col in ("id", "title", "channel", "uploaded", "length", "status", "lang", "tags"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["id"], rich_escape(r["title"] or ""), rich_escape(r["channel"] or ""), r["upload_date"] or "",
                      fmt_time(r["duration"]), r["status"] + (" (removal retracted)" if r.get("removal_retracted") else ""),
                      r["language"] or "",
                      ", ".join(f"{k} {v:.2f}" for k, v in r["tags"].items()))
    console.print(table)


def _air(seg: dict | None) -> dict:
    """A recorded live stream's segment: when it aired (issue 25)."""
    return {} if seg is None else {"air_start": seg["air_start"], "air_end": seg["air_end"], "air_clock": seg["air_clock"]}


@app.command()
def show(
    video_id: str = typer.Argument(..., help="A video id (or an unambiguous prefix) from `clipwatch list`."),
    comments: bool = typer.Option(False, "--comments", help="List the platform's comments too, threaded (when fetched)."),
    as_json: JsonFlag = False,
) -> None:
    """Show one archived video: provenance, keyframes, tags with evidence, transcript, events."""
    with open_store(reading=True) as store:
        loaded = records.load(store, video_id)
    rec = loaded.show_dict()
    ct = loaded.comments_transcript
    if comments and ct is not None:  # read from comments.json under this archive (the stored lines when it is not here)
        path = settings().archive_dir / ct["path"] if ct["path"] else None
        rec["comments"] |= loaded.comments(path if path is not None and path.is_file() else None) or {}
    if as_json:
        print_json(rec)
        return
    v, m = rec["video"], rec["media"]
    e = rich_escape
    console.print(f"[bold]{e(v['title'] or v['id'])}[/]  [dim]{v['id']}[/]")
    console.print(f"channel {e(v['channel'] or '—')} · uploaded {v['upload_date'] or '—'} · {fmt_time(v['duration'])} · "
                  f"status [bold]{v['status']}[/]" + (f" ({e(v['status_reason'] or '')})" if v["status"] != "available" else ""))
    console.print(f"page    {e(v['webpage_url'] or v['source_url'])}", highlight=False)
    if m:
        console.print("\n[bold]Provenance[/]")
        for label, val in (("source", m["source_url"]), ("fetched from", m["final_url"]), ("fetched at", m["fetched_at"]),
                           ("fetcher", f"{m['fetcher']} {m['fetcher_version'] or ''}".strip()), ("sha256", m["sha256"]),
                           ("size", f"{m['size']:,} bytes"), ("codecs", f"{m['container']} · {m['video_codec']} {m['width']}x{m['height']} · {m['audio_codec']}"),
                           ("file", m["path"])):
            console.print(f"  {label:<13}{e(str(val or '—'))}", highlight=False)
    if rec["tags"]:
        console.print("\n[bold]Tags[/]")
        for t in rec["tags"]:
            mark = "[green]yes[/]" if t["decision"] else "[dim]no[/]"
            console.print(f"  {t['category']:<11}{t['score']:.2f} {mark} [dim]{t['origin']}[/]  " + e("; ".join(t["evidence"][:6])), highlight=False)
    if rec["keyframes"]:
        console.print(f"\n[bold]Keyframes[/] ({len(rec['keyframes'])})")
        for k in rec["keyframes"]:
            console.print(f"  shot {k['shot_index']:>3} {fmt_time(k['shot_start'])}–{fmt_time(k['shot_end'])} @ {k['time']:.2f}s  "
                          f"{to_unsigned64(k['phash']):016x}  {k['path']}", highlight=False)
    for t in rec["transcripts"]:
        made_by = f"{t['engine']} {t['model']}" + (f" (translator {t['translator']})" if t.get("translator") else "")
        console.print(f"\n[bold]Transcript ({t['kind']})[/] {t['language'] or '?'} · {made_by}")
        for s in t["segments"]:
            flag = f" [yellow][{s['flags']}][/]" if s["flags"] else ""
            console.print(f"  {fmt_time(s['start'])}–{fmt_time(s['end'])}  {e(s['text'])}{flag}", highlight=False)
    if rec["comments"]:
        c = rec["comments"]
        console.print(f"\n[bold]Comments[/] ({c.get('count', c['indexed'])})" + ("" if comments else "  [dim]--comments lists them[/]"))
        if c.get("note"):
            console.print(f"  [dim]{e(c['note'])}[/]", highlight=False)
        for k in c.get("thread", []):
            when = (k["posted_at"] or "")[:16].replace("T", " ")
            console.print(f"  {'  ' * k['depth']}[cyan]{e(k['author'] or 'unknown')}[/] [dim]{when}[/]  {e(k['text'])}",
                          highlight=False)
    print_copies(rec["copies"])
    console.print("\n[bold]Events[/]")
    for ev in rec["events"]:
        console.print(f"  {ev['at']}  {ev['kind']}" + event_line(ev, rec.get("removals")), highlight=False)


@app.command()
def history(
    video_id: str = typer.Argument(..., help="A video id (or an unambiguous prefix)."),
    as_json: JsonFlag = False,
) -> None:
    """Every title/description/tags version seen for a video, each with its diff from the one before."""
    with open_store(reading=True) as store:
        vid = store.get_video(video_id)["id"]
        versions = metadata_history(store, vid)
    if as_json:
        print_json({"video_id": vid, "versions": [v.to_dict() for v in versions]})
        return
    e = rich_escape
    for n, v in enumerate(versions, 1):
        console.print(f"[bold]version {n}[/]  seen {v.seen_at}" + (f"  [dim]{e(v.info_json_path)}[/]" if v.info_json_path else ""),
                      highlight=False)
        if n == 1:
            console.print(f"  title  {e(v.title or '')}", highlight=False)
            console.print(f"  tags   {e(', '.join(v.platform_tags))}", highlight=False)
            continue
        if not v.diff:
            console.print("  [dim]no change[/]")
        if "title" in v.diff:
            console.print(f"  title  [red]- {e(v.diff['title']['old'] or '')}[/]\n         [green]+ {e(v.diff['title']['new'] or '')}[/]",
                          highlight=False)
        if "description" in v.diff:
            console.print("  description")
            for line in v.diff["description"]["unified"][2:]:
                colour = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
                console.print(f"    [{colour}]{e(line)}[/]", highlight=False)
        if "platform_tags" in v.diff:
            d = v.diff["platform_tags"]
            console.print(f"  tags   [green]+{e(', '.join(d['added']))}[/]  [red]-{e(', '.join(d['removed']))}[/]", highlight=False)


@app.command()
def events(
    video_id: Optional[str] = typer.Argument(None, help="Only this video's events."),
    kind: Optional[str] = typer.Option(None, "--kind", help="Only events of this kind (e.g. removed, corrupt)."),
    limit: int = typer.Option(1000, "--limit", min=1, help="The most recent N events."),
    as_json: JsonFlag = False,
) -> None:
    """The chain of custody: the append-only event log, oldest first."""
    with open_store(reading=True) as store:
        vid = store.get_video(video_id)["id"] if video_id else None
        rows = store.events(vid)
        withdrawn = retractions(store)
    rows = [r for r in rows if kind is None or r["kind"] == kind][-limit:]
    out = [{"id": r["id"], "at": r["at"], "kind": r["kind"], "video_id": r["video_id"], "source_id": r["source_id"],
            "media_sha256": r["media_sha256"], "detail": json.loads(r["detail"] or "{}")} for r in rows]
    if as_json:
        print_json(out)
        return
    if not out:
        console.print("no events")
    colours = {"removed": "red", "corrupt": "red", "missing-file": "red", "failed": "red", "reappeared": "green",
               "verified": "green", "metadata-changed": "yellow", "exported": "cyan"}
    for ev in out:
        d = ev["detail"]
        summary = d.get("reason") or d.get("why") or d.get("host") or d.get("message") or d.get("bag") or (", ".join(d["diff"]) if "diff" in d else "") \
            or d.get("error") or d.get("path") or (d.get("sha256") or "")[:16]
        who = ev["video_id"] or (f"source {ev['source_id']}" if ev["source_id"] else "")
        if ev["kind"] == "removed" and ev["id"] in withdrawn:
            summary = f"{summary} [RETRACTED {withdrawn[ev['id']]['at']}: {withdrawn[ev['id']].get('why')}]"
        console.print(f"{ev['at']}  [{colours.get(ev['kind'], 'white')}]{ev['kind']:<16}[/] {who}  {rich_escape(str(summary or ''))}",
                      highlight=False)
