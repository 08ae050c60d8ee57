"""Custody of the collection: `verify`, `monitor`, `export` (the preservation room)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from pipeline.broadcast.status import gap_summary
from pipeline.cli.common import (
    JsonFlag,
    bytes_progress,
    console,
    cron_times,
    err_console,
    open_store,
    prefect_settings,
    print_json,
    rich_escape,
    settings,
    short,
)
from pipeline.cli.removals import retract_cmd
from pipeline.errors import ClipwatchError
from pipeline.preservation.anchors import parse_heads, read_heads_file
from pipeline.preservation.bag import export_bag, export_catalogue, select_videos
from pipeline.preservation.fixity import verify as run_verify
from pipeline.preservation.monitor import due_videos, watch_source, watched_sources
from pipeline.preservation.timestamp import timestamp_head
from pipeline.storage.base import blob_store_for

app = typer.Typer()
monitor_app = typer.Typer(help="Watch sources for new videos and archived videos for removals and edits.",
                          no_args_is_help=True)
export_app = typer.Typer(help="Hand the collection over: BagIt bags, catalogue CSV/JSON.", no_args_is_help=True)


@app.command()
def verify(
    video_ids: Optional[list[str]] = typer.Argument(None, help="Video ids (or prefixes) to verify."),
    all_videos: bool = typer.Option(False, "--all", help="Verify every archived video."),
    tsa: Optional[str] = typer.Option(None, "--tsa", help="Timestamp the event chain's head at this RFC 3161 authority (URL)."),
    head: Optional[list[str]] = typer.Option(None, "--head", help="A chain head you kept (ID:SHA256): it must still be in the log."),
    heads: Optional[Path] = typer.Option(None, "--heads", help="A file of kept chain heads (lines holding ID SHA256)."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 also for files in a video folder that its manifest does not list."),
    as_json: JsonFlag = False,
) -> None:
    """Prove the archive intact: the event chain, originals, derivatives and catalogue rows. Exits 1 and lists what is wrong.

    Walks the event chain and holds it against stored RFC 3161 receipts and kept heads (--head, --heads); re-hashes
    originals (against catalogue, file name and fetched event) and derivatives (against each video's manifest,
    whose hash is in the chain); holds transcripts, metadata and tags against the digests in the chain; with --all,
    lists videos the chain knows and the catalogue lost. Prints the chain head to keep elsewhere."""
    if not video_ids and not all_videos:
        raise ClipwatchError("name the videos to verify (VIDEO_ID...) or pass --all")
    kept = [h for text in (head or []) for h in parse_heads(text)] + (read_heads_file(heads) if heads else [])
    s = settings()
    stamp = None
    with open_store(s, reading=True) as store:
        if as_json:
            result = run_verify(store, blob_store_for(s), None if all_videos else video_ids, heads=kept)
        else:
            with bytes_progress() as progress:
                bar = progress.add_task("verifying", total=None)
                result = run_verify(store, blob_store_for(s), None if all_videos else video_ids, heads=kept,
                                    progress=lambda done, total, name: progress.update(
                                        bar, completed=done, total=total or None,
                                        description=f"verifying {short(name.rsplit('/', 1)[-1], 24)}"))
        if tsa:
            stamp = timestamp_head(store, blob_store_for(s), tsa)
        gaps = gap_summary(store)  # time without signal in recorded streams: counted, never silent (issue 25)
    if as_json:
        out = result.to_dict()
        out["gaps"] = gaps
        if stamp is not None:
            out["timestamp"] = stamp.to_dict()
        print_json(out)
    else:
        counts = result.counts()
        ch = result.chain
        if ch is not None and not ch.ok:
            err_console.print(f"[bold red]event chain broken[/] {rich_escape(ch.problem)}", highlight=False)
        for a in result.rewritten:  # "chain rewritten since …", or a receipt that is missing or does not hold
            err_console.print(f"[bold red]{rich_escape(a.message)}[/]", highlight=False)
        for p in result.problems:
            err_console.print(f"[bold red]{p.status}[/] {p.video_id}  {rich_escape(p.message)}", highlight=False)
        for p in result.unlisted:
            err_console.print(f"[{'bold red' if strict else 'yellow'}]unlisted[/] {p.video_id}  {rich_escape(p.message)}",
                              highlight=False)
        for note in result.notes:
            err_console.print(f"note: {rich_escape(note)}", highlight=False)
        colour = "green" if result.ok else "red"
        console.print(f"[{colour}]{counts['ok']} verified[/], {counts['corrupt']} corrupt, {counts['missing-file']} missing "
                      f"({len(result.videos)} video(s), {result.derivatives_checked} derivative(s), "
                      f"{result.bytes_hashed:,} bytes hashed)", highlight=False)
        if ch is not None:
            state_ = "intact" if ch.ok else ("BROKEN at event " + str(ch.broken_at) if ch.broken_at else "BROKEN")
            console.print(f"event chain: {state_} ({ch.events} event(s) walked before this run's own)", highlight=False)
        if result.anchors:
            held = sum(1 for a in result.anchors if a.ok)
            console.print(f"anchors: {held} of {len(result.anchors)} receipt(s) and kept head(s) match the chain",
                          highlight=False)
        if gaps["count"]:
            console.print(f"recorded streams: {gaps['count']} gap(s) without signal, {gaps['seconds']:.1f} s in all ("
                          + ", ".join(f"{rich_escape(c)} {g['count']}" for c, g in sorted(gaps["channels"].items()))
                          + "); `clipwatch events --kind gap` lists them", highlight=False)
        console.print(f"chain head: {result.head['id']} {result.head['hash']}  (keep this line elsewhere)", highlight=False)
        if stamp is not None:
            console.print(f"timestamped by {rich_escape(tsa)} at {stamp.gen_time}: {stamp.token_path}", highlight=False)
        if not result.recorded:
            err_console.print("note: the archive is read-only here; nothing was recorded", highlight=False)
    if not (result.strict_ok if strict else result.ok):
        raise typer.Exit(1)


app.add_typer(monitor_app, name="monitor")


@monitor_app.command("add")
def monitor_add(
    url: str = typer.Argument(..., help="A channel or playlist URL to watch."),
    as_json: JsonFlag = False,
) -> None:
    """Watch a channel or playlist: `monitor run` lists it again and ingests what is new."""
    with open_store() as store:
        sid, found = watch_source(store, url)
    if as_json:
        print_json({"source_id": sid, "url": found.source_url, "kind": found.kind, "title": found.title, "videos": len(found.refs)})
        return
    console.print(f"watching [bold]{rich_escape(found.title or found.source_url)}[/] ({found.kind}, {len(found.refs)} video(s) listed now)"
                  f" — `clipwatch monitor run` archives them", highlight=False)


@monitor_app.command("list")
def monitor_list(as_json: JsonFlag = False) -> None:
    """Watched sources, and how many archived videos are due for a check, suspect or removed."""
    with open_store() as store:
        sources = watched_sources(store)
        due = due_videos(store)
        counts, suspect = store.status_counts(), store.suspect_count()
    if as_json:
        print_json({"sources": sources, "due": due, "videos": counts, "suspect": suspect})
        return
    table = Table(title="watched sources")
    for col in ("id", "source", "kind", "title", "videos", "last listed", "status"):
        table.add_column(col, overflow="fold")
    for r in sources:
        status = r["status"] + (f" ({r['status_kind']})" if r.get("status_kind") else "")
        if r.get("last_list_error"):
            status += " · last listing failed"
        table.add_row(str(r["id"]), rich_escape(r["url"]), r["kind"], rich_escape(r["title"] or ""), str(r["videos"]),
                      r["last_listed_at"] or "never", status)
    console.print(table if sources else "No watched sources: `clipwatch monitor add URL`.")
    console.print(f"videos: {counts.get('available', 0)} available, {counts.get('removed', 0)} removed, "
                  f"{suspect} with a failed check pending confirmation; {len(due)} due for a check now", highlight=False)


@monitor_app.command("run")
def monitor_run(
    no_relist: bool = typer.Option(False, "--no-relist", help="Do not list watched sources again."),
    no_check: bool = typer.Option(False, "--no-check", help="Do not re-check archived videos."),
    check_all: bool = typer.Option(False, "--all", help="Check every archived video, due or not."),
    no_analyse: bool = typer.Option(False, "--no-analyse", help="Archive new videos without keyframes/transcripts/tags."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Check at most this many videos."),
    as_json: JsonFlag = False,
) -> None:
    """One monitoring round now: new videos are archived, due videos re-checked."""
    s = prefect_settings()
    from flows.monitor import monitor_flow  # imports Prefect, which reads its settings when first imported

    kwargs: dict[str, Any] = dict(data_dir=str(s.data_dir), relist=not no_relist, check=not no_check, analyse_new=not no_analyse,
                  check_all=check_all, limit=limit)
    if as_json:
        report = monitor_flow(**kwargs)
        print_json(report.to_dict())
    else:
        with err_console.status("monitoring…"):
            report = monitor_flow(**kwargs)
        _print_monitor_report(report)
    if report.failed:
        raise typer.Exit(2)


def _print_monitor_report(report) -> None:
    for src in report.sources:
        line = f"[bold]{rich_escape(src['title'] or src['url'])}[/]: {src['listed']} listed, {len(src['new'])} new"
        if src.get("error"):
            line += f" — [yellow]{src['outcome']}[/] {rich_escape(src['error'])}"
        console.print(line, highlight=False)
    for v in report.ingested:
        colour = "green" if v.status == "ok" else "red"
        console.print(f"  [{colour}]archived[/] {v.video_id or '—'} {rich_escape(v.title or v.ref)}"
                      + (f" [red]{rich_escape(v.error or '')}[/]" if v.error else ""), highlight=False)
    colours = {"available": "green", "reappeared": "green", "removed": "red", "still-removed": "red",
               "suspect": "yellow", "transient": "yellow", "error": "red"}
    for c in report.checks:
        if c["outcome"] == "available" and not c.get("metadata_changed"):
            continue
        console.print(f"  [{colours.get(c['outcome'], 'white')}]{c['outcome']}[/] {c['video_id']}  {rich_escape(c.get('message') or '')}",
                      highlight=False)
    counts = report.counts()
    console.print(f"{len(report.checks)} video(s) checked: " + (", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none due"),
                  highlight=False)


monitor_app.command("retract")(retract_cmd)


@monitor_app.command("serve")
def monitor_serve(
    cron: str = typer.Option("0 */6 * * *", "--cron", help="When to run (cron syntax, UTC)."),
    name: str = typer.Option("clipwatch-monitor", "--name", help="Deployment name."),
    no_analyse: bool = typer.Option(False, "--no-analyse", help="Archive new videos without analysing them."),
) -> None:
    """Serve the monitor flow as a Prefect deployment on a cron schedule (runs until interrupted)."""
    s = prefect_settings()
    from flows.monitor import prefect_api_url, serve_monitor  # imports Prefect: after prefect_settings configured it

    upcoming = cron_times(cron, 2)
    where = f"Prefect server {prefect_api_url()}" if prefect_api_url() else \
        "this process (set PREFECT_API_URL to a Prefect server to serve it as a deployment)"
    console.print(f"monitor/{rich_escape(name)} on [bold]{rich_escape(cron)}[/] (UTC), scheduled by {rich_escape(where)}; "
                  f"next runs {', '.join(t.strftime('%Y-%m-%d %H:%M') for t in upcoming)}; Ctrl-C stops", highlight=False)
    serve_monitor(cron, str(s.data_dir), name, analyse_new=not no_analyse)


app.add_typer(export_app, name="export")


@export_app.command("bag")
def export_bag_cmd(
    dest: Path = typer.Argument(..., help="Folder to create for the bag (must not exist)."),
    video_ids: Optional[list[str]] = typer.Argument(None, help="Video ids to export (default: all, or the selection)."),
    channel: Optional[str] = typer.Option(None, "--channel", help="Every video of this channel."),
    query: Optional[str] = typer.Option(None, "--query", "-q", help="Every video a search for this finds."),
    organization: Optional[str] = typer.Option(None, "--organization", help="Source-Organization for bag-info.txt."),
    include_unlisted: bool = typer.Option(False, "--include-unlisted",
                                          help="Also carry files a video's manifest does not list (named in provenance.json)."),
    as_json: JsonFlag = False,
) -> None:
    """Write a BagIt bag (SHA-256 manifest): originals, info.json, derivatives, provenance.json with the event log,
    the RFC 3161 receipts of the chain."""
    s = settings()
    with open_store(s, reading=True) as store:
        ids = select_videos(store, channel=channel, query=query, video_ids=video_ids, archive_dir=s.archive_dir)
        selection = "; ".join(x for x in (f"channel={channel}" if channel else "", f"query={query}" if query else "",
                                          f"ids={','.join(video_ids)}" if video_ids else "") if x) or "all"
        if as_json:
            result = export_bag(store, blob_store_for(s), dest, ids, selection=selection, organization=organization,
                                include_unlisted=include_unlisted)
        else:
            with err_console.status(f"bagging {len(ids)} video(s)…") as status:
                result = export_bag(store, blob_store_for(s), dest, ids, selection=selection, organization=organization,
                                    include_unlisted=include_unlisted,
                                    progress=lambda n, total, vid: status.update(f"bagging {n + 1}/{total} {vid}"))
    if as_json:
        print_json(result.to_dict())
        return
    for what in result.skipped:
        err_console.print(f"[yellow]skipped[/] {rich_escape(what)}", highlight=False)
    console.print(f"bag [bold]{rich_escape(result.path)}[/]: {len(result.videos)} video(s), {result.files} files, "
                  f"{result.bytes:,} bytes, valid ({result.bag_id})", highlight=False)
    console.print(f"event chain head: {result.chain_head.get('id')} {result.chain_head.get('hash')}", highlight=False)


def _export_catalogue(fmt: str, dest: Path, video_ids: Optional[list[str]], as_json: bool) -> None:
    with open_store(reading=True) as store:
        n = export_catalogue(store, dest, fmt, video_ids or None)
    if as_json:
        print_json({"path": str(dest), "format": fmt, "videos": n})
        return
    console.print(f"{n} video(s) written to {rich_escape(str(dest))}", highlight=False)


@export_app.command("csv")
def export_csv_cmd(
    dest: Path = typer.Argument(..., help="CSV file to write."),
    video_ids: Optional[list[str]] = typer.Argument(None, help="Only these videos."),
    as_json: JsonFlag = False,
) -> None:
    """The catalogue as CSV: one citable row per video (URL, upload date, archive date, SHA-256, status…)."""
    _export_catalogue("csv", dest, video_ids, as_json)


@export_app.command("json")
def export_json_cmd(
    dest: Path = typer.Argument(..., help="JSON file to write."),
    video_ids: Optional[list[str]] = typer.Argument(None, help="Only these videos."),
    as_json: JsonFlag = False,
) -> None:
    """The catalogue as JSON: one citable record per video."""
    _export_catalogue("json", dest, video_ids, as_json)
