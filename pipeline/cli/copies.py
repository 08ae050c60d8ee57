"""Copies of archived videos: `similar`, `match`, `copies`, `network` (the copies room)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional

import typer

from pipeline.cli.common import (
    JsonFlag,
    console,
    fmt_time,
    open_store,
    output_format,
    print_json,
    rich_escape,
    settings,
)
from pipeline.copies import network as net
from pipeline.errors import NotFoundError
from pipeline.sources.discovery import is_url
from pipeline.sources.fetch import fetch
from pipeline.storage.base import Catalogue, blob_store_for
from pipeline.storage.files import Archive

app = typer.Typer()

NETWORK_FORMATS = ("table", "json", "graphml", "csv")


def print_copies(c: dict[str, Any]) -> None:
    """A video's copy links as ``show`` and ``copies`` print them: the original it copies, its copies elsewhere."""
    e = rich_escape
    for label, key in (("Copied from", "copied_from"), ("Copies elsewhere", "copies_elsewhere")):
        if not c[key]:
            continue
        console.print(f"\n[bold]{label}[/]")
        for link in c[key]:
            speed = f" ×{link['speed']:g}" if link["speed"] != 1 else ""
            way = {"uncertain": " · direction UNCERTAIN (claimed dates contradict the archive's order)",
                   "claimed": " · direction claimed (platform dates only)"}.get(link.get("direction", "observed"), "")
            console.print(f"  {link['video_id']}  {e(link['channel'] or '—')} · claimed {link['upload_date'] or '—'} · {link['method']}{way} · "
                          f"confidence {link['confidence']:.2f} · coverage {link['coverage']:.0%} · offset {link['offset']:+.2f}s{speed}"
                          f"  {e(link['title'] or '')}", highlight=False)


def _hash_index(store: Catalogue):
    from pipeline.copies.matching import HashIndex  # OpenCV (~0.3 s to load): only for the commands that match

    return HashIndex(store.keyframe_hashes())


def _print_matches(matches, store: Catalogue, as_json: bool) -> None:
    out = []
    for m in matches:
        v = store.get_video(m.video_id)
        out.append({"video_id": m.video_id, "title": v["title"], "channel": v["channel"], "status": v["status"],
                    "score": round(m.score, 3), "matched": m.matched, "total": m.total, "offset": round(m.offset, 2),
                    "mirrored": m.mirrored, "ranges": [[round(x, 2) for x in r] for r in m.ranges]})
    if as_json:
        print_json(out)
        return
    if not out:
        console.print("no archived video matches")
        return
    for r in out:
        console.print(f"[bold]{r['score']:.2f}[/] ({r['matched']}/{r['total']} keyframes) {r['video_id']}  "
                      f"{rich_escape(r['title'] or '')} [dim]{r['status']}[/]" + ("  [yellow]mirrored[/]" if r["mirrored"] else ""), highlight=False)
        for q0, q1, a0, a1 in r["ranges"][:5]:
            console.print(f"    query {fmt_time(q0)}–{fmt_time(q1)}  ↔  archived {fmt_time(a0)}–{fmt_time(a1)}", highlight=False)


@app.command()
def similar(
    video_id: str = typer.Argument(..., help="An archived video: find other archived copies of it (re-uploads, excerpts)."),
    limit: int = typer.Option(10, "--limit", min=1),
    as_json: JsonFlag = False,
) -> None:
    """Rank archived videos by shared keyframes with this one (re-uploads, excerpts, mirrored copies)."""
    from pipeline.copies.matching import fingerprint_file, match_keyframes  # OpenCV: loaded only to match

    s = settings()
    with open_store(s) as store:
        v = store.get_video(video_id)
        media = store.media_file(v["media_sha256"]) if v["media_sha256"] else None
        if media is None:
            raise NotFoundError(f"{video_id}: no archived media to compare")
        query = fingerprint_file(blob_store_for(s).abspath(media["path"]))
        matches = match_keyframes(query, _hash_index(store), exclude=[v["id"]], limit=limit)
        _print_matches(matches, store, as_json)


@app.command()
def match(
    file_or_url: str = typer.Argument(..., help="A local video file or a video URL (downloaded to a temporary folder, not archived)."),
    limit: int = typer.Option(10, "--limit", min=1),
    as_json: JsonFlag = False,
) -> None:
    """Find archived videos that this file or URL copies (re-upload detection)."""
    from pipeline.copies.matching import fingerprint_file, match_keyframes  # OpenCV: loaded only to match

    with open_store() as store:
        index = _hash_index(store)
        if is_url(file_or_url):
            tmp = Path(tempfile.mkdtemp(prefix="clipwatch-match-"))
            try:
                fetched = fetch(file_or_url, Archive(tmp))
                assert fetched.media is not None  # fetched without is_archived: never skipped
                query = fingerprint_file(tmp / fetched.media.path)
                fetched.cleanup()
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        else:
            query = fingerprint_file(Path(file_or_url))
        _print_matches(match_keyframes(query, index, limit=limit), store, as_json)


@app.command()
def copies(
    video_id: str = typer.Argument(..., help="An archived video id."),
    as_json: JsonFlag = False,
) -> None:
    """Copy links of one video: the original it copies, and its copies on other channels (found at ingest)."""
    with open_store() as store:
        v = store.get_video(video_id)
        c = store.video_copies(v["id"])
    if as_json:
        print_json({"video_id": v["id"], **c})
        return
    if not c["copied_from"] and not c["copies_elsewhere"]:
        console.print(f"{v['id']}: no copy links (matched against the archive at ingest)")
        return
    print_copies(c)


@app.command()
def network(
    channel: Optional[list[str]] = typer.Option(None, "--channel", help="Only edges touching this channel (repeatable)."),
    since: Optional[str] = typer.Option(None, "--since", help="Only copies uploaded on or after YYYY[-MM[-DD]]."),
    as_json: JsonFlag = False,
    fmt: str = typer.Option("table", "--format", help="table | json | graphml | csv (edge list); --json is --format json."),
) -> None:
    """The network of channels that republish each other's videos (from copy links found at ingest)."""
    fmt = output_format(as_json, fmt, "table", NETWORK_FORMATS) or "table"
    s = settings()
    with open_store(s) as store:
        g = net.network_from_store(store, s.archive_dir, channels=channel or [], since=since)
    if fmt == "json":
        print_json(net.to_json(g))
        return
    if fmt in ("graphml", "csv"):
        sys.stdout.write(net.to_graphml(g) if fmt == "graphml" else net.to_csv(g))
        return
    e = rich_escape
    if not g.nodes:
        console.print("no channels archived" + (" for these filters" if channel or since else ""))
        return
    console.print("[bold]Channels[/]")
    for n in g.nodes:
        reg = f" [red]registry: {e(n.registry)}[/]" if n.registry else ""
        console.print(f"  {e(n.channel)}: {n.videos} videos, {n.copies} copies of others ({n.copy_share:.0%}), {n.status}{reg}",
                      highlight=False)
        for sig in n.monetisation_signals[:5]:
            console.print(f"      monetisation signal (metadata): {sig.kind}: {e(sig.evidence)} [dim]({sig.where} of {sig.video_id})[/]",
                          highlight=False)
    console.print("\n[bold]Republishing[/] (channel of the original → channel of the copy)")
    if not g.edges:
        console.print("  no copies across channels")
    for ed in g.edges:
        delay = "—" if ed.median_delay_days is None else f"{ed.median_delay_days:g} days"
        console.print(f"  {e(ed.from_)} → {e(ed.to)}: {ed.videos} videos, median delay {delay}", highlight=False)
    if any(n.monetisation_signals for n in g.nodes):
        console.print(f"\n[dim]{net.SIGNAL_NOTE}[/]")
