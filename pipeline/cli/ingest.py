"""Getting videos in and text out: `ingest`, `demo`, `reprocess`, `transcribe` (the ingest and transcription rooms)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from flows import configure_prefect
from flows.progress import set_reporter
from pipeline import asr as tr
from pipeline.asr import subtitles
from pipeline.cli.common import (
    TRANSLATOR_HELP,
    JsonFlag,
    check_translator,
    console,
    disk_full_guard,
    err_console,
    fmt_time,
    open_store,
    output_format,
    print_json,
    rich_escape,
    scale_out_api,
    settings,
    short,
    state,
)
from pipeline.cli.doctor import print_skipped
from pipeline.config import Settings, samples_dir
from pipeline.demo.loopback import LoopbackServer, publish_samples
from pipeline.demo.registry import demo_registry
from pipeline.errors import ClipwatchError, DiskFullError
from pipeline.search.facade import SearchQuery, search
from pipeline.sources.discovery import is_url
from pipeline.storage.files import atomic_write_text

app = typer.Typer()

DEMO_PORT = 8765


class RichReporter:
    """Draws one progress row per video: the current stage and how far it has got."""

    def __init__(self, progress):
        self.progress = progress
        self.rows: dict[str, int] = {}

    def _row(self, video: str):
        if video not in self.rows:
            self.rows[video] = self.progress.add_task(short(video), total=None, stage="")
        return self.rows[video]

    def discovered(self, source: str, count: int, kind: str) -> None:
        self.progress.console.print(f"[bold]{short(source, 70)}[/]: {count} video(s) ({kind})", highlight=False)

    def stage_start(self, video: str, stage: str, total: float | None = None) -> None:
        self.progress.update(self._row(video), stage=stage, completed=0, total=total)

    def stage_progress(self, video: str, stage: str, done: float, total: float | None) -> None:
        self.progress.update(self._row(video), stage=stage, completed=done, total=total or None)

    def stage_end(self, video: str, stage: str, status: str, message: str) -> None:
        colour = {"done": "green", "skipped": "cyan", "failed": "red"}.get(status, "yellow")
        self.progress.console.print(f"  {short(video)} [{colour}]{stage} {status}[/] {rich_escape(message)}", highlight=False)
        self.progress.update(self._row(video), stage=f"{stage} {status}")


def run_ingest(sources: list[str], s: Settings, force: bool = False, as_json: bool = False):
    """Run the ingest here, with a live progress display unless ``as_json``: the same overlapped pass as the
    Prefect flow (``flows.batch``), called directly — with no Prefect server configured, a temporary Prefect API
    (10–25 s to start, and Prefect's import) would only record the run in a database nobody reads.

    Arguments:
        sources: URLs or local paths.
        s: The settings.
        force: Redo stages even if done.
        as_json: No progress display (the caller prints JSON).

    Returns:
        The flow's report.
    """
    from flows.batch import ingest  # every stage module, OpenCV included (~0.5 s): only when ingesting

    s.ensure_dirs()
    if as_json:
        return disk_full_guard(s, lambda: ingest(sources, s, force))
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("[magenta]{task.fields[stage]}"),
                  BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(), console=err_console,
                  transient=True) as progress:
        set_reporter(RichReporter(progress))
        try:
            return disk_full_guard(s, lambda: ingest(sources, s, force))
        finally:
            set_reporter(None)


def run_ingest_on_pools(sources: list[str], s: Settings, force: bool, options: dict[str, Any], as_json: bool):
    """``clipwatch ingest`` with PREFECT_API_URL: one flow run per video on the pools' workers, a progress line.

    Arguments:
        sources: URLs or local paths.
        s: The settings.
        force: Redo stages even if done.
        options: The settings the user chose, passed on to the workers.
        as_json: No progress line (the caller prints JSON).

    Returns:
        The fan-out's report (the same shape as :func:`run_ingest`'s).
    """
    configure_prefect(s, quiet=not state.verbose)
    from flows.pools import fan_out_ingest  # imports Prefect: after configure_prefect

    if as_json:
        return fan_out_ingest(sources, s, force, options)
    with err_console.status("ingest: starting flow runs…") as status:
        return fan_out_ingest(sources, s, force, options, progress=lambda line: status.update(rich_escape(line)))


def print_ingest_report(report) -> None:
    """The ingest (or reprocess) report as a table of stages per video, problems on stderr."""
    from pipeline.stages import STAGES  # every stage module, OpenCV included (~0.5 s): only once a report is printed

    stages = ("fetch", *(cls.name for cls in STAGES))
    table = Table(title="ingest", show_lines=False)
    for col in ("video", "title", *stages):
        table.add_column(col, overflow="fold")
    for v in report.videos:
        table.add_row(v.video_id or "—", rich_escape(short(v.title or v.ref, 40)),
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
    print_skipped(report, console)  # once per run, not once per video


@app.command()
def ingest(
    sources: list[str] = typer.Argument(..., help="URLs (video, playlist, channel) or local files/folders."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Whisper model name or local path (default base)."),
    engine: Optional[str] = typer.Option(None, "--engine", help="faster-whisper (default) or openai-whisper."),
    no_translate: bool = typer.Option(False, "--no-translate", help="Do not add an English translation of non-English speech."),
    translator: Optional[str] = typer.Option(None, "--translator", help=TRANSLATOR_HELP),
    force: bool = typer.Option(False, "--force", help="Redo keyframes, transcription and tagging even if done."),
    comments: bool = typer.Option(False, "--comments", help="Also the platform's comments (yt-dlp): stored, shown, "
                                  "searchable with `search --source comments`."),
    as_json: JsonFlag = False,
) -> None:
    """Archive and analyse videos: download, keyframes, transcript, tags, search index."""
    s = settings(model=model, engine=engine, translate=False if no_translate else None, translator=translator,
                 comments=True if comments else None)
    on_pools = scale_out_api() is not None
    if not on_pools:  # on work pools the asr workers load the translator (and say when it is not pulled)
        check_translator(s)
    for src in sources:  # a malformed URL is said before Prefect starts
        is_url(src)
    s.ensure_dirs()
    if on_pools:
        chosen = dict(model=model, engine=engine, translate=False if no_translate else None, translator=translator,
                      comments=True if comments else None)
        report = run_ingest_on_pools(sources, s, force, {k: v for k, v in chosen.items() if v is not None}, as_json)
    else:
        report = run_ingest(sources, s, force, as_json)
    if as_json:
        print_json(report.to_dict())
    else:
        print_ingest_report(report)
    if report.stopped:
        raise DiskFullError(report.stopped)
    if report.failed:
        raise typer.Exit(2)


@app.command()
def demo(
    query: str = typer.Option("nuclear deterrent", "--query", "-q", help="What to search for after ingesting."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Whisper model (default base)."),
    as_json: JsonFlag = False,
) -> None:
    """Ingest the bundled sample clips from a loopback 'video site', then search them."""
    s = settings(model=model)
    # A fixed port keeps the sample URLs, and so the video ids, the same from run to
    # run: a second demo finds everything archived and does no work again.
    try:
        server = LoopbackServer(port=DEMO_PORT)
    except OSError:
        err_console.print(f"port {DEMO_PORT} is busy: serving the samples on another port (videos get new ids)")
        server = LoopbackServer()
    # the sample outlet is in the registry for this site (host and port) while the demo ingests, never in the shipped one
    with server, demo_registry(server.base_url):
        feed = publish_samples(server, samples_dir())
        if not as_json:
            console.print(f"Serving the bundled sample clips at [bold]{feed}[/] (loopback only)")
        report = run_ingest([feed], s, as_json=as_json)
    with open_store(s) as store:
        results = search(store, SearchQuery(text=query, limit=10))
    if as_json:
        print_json({"feed": feed, "archive": str(s.data_dir), "ingest": report.to_dict(), "query": query,
                    "search": results.to_dict()})
    else:
        print_ingest_report(report)
        console.print(f"\n[bold]clipwatch search {query!r}[/]")
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
    as_json: JsonFlag = False,
) -> None:
    """Re-run keyframes, transcription and tagging on archived videos (no download)."""
    s = settings(model=model, engine=engine, translator=translator)
    check_translator(s)
    if scale_out_api() is None:  # nothing to record the run in: no Prefect, no temporary API (see run_ingest)
        from flows.batch import reprocess_videos  # every stage module (~0.5 s): only when reprocessing

        report = reprocess_videos(video_ids or None, s, force)
    else:
        configure_prefect(s, quiet=not state.verbose)
        from flows.reprocess import reprocess_flow  # imports Prefect: after configure_prefect

        report = reprocess_flow(video_ids or None, s, force)
    if as_json:
        print_json(report.to_dict())
    else:
        print_ingest_report(report)
    if report.failed:
        raise typer.Exit(2)


@app.command()
def transcribe(
    file: Path = typer.Argument(..., help="Any local audio or video file (it is not archived)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="tiny.en, base, or a local model path (default base)."),
    engine: Optional[str] = typer.Option(None, "--engine", help="faster-whisper (default) or openai-whisper."),
    language: Optional[str] = typer.Option(None, "--language", "-l", help="Force the spoken language (e.g. ko, en); default: detect."),
    task: str = typer.Option("transcribe", "--task", help="transcribe, or translate (to English)."),
    translator: Optional[str] = typer.Option(None, "--translator", help="With --task translate: " + TRANSLATOR_HELP),
    fmt: str = typer.Option("txt", "--format", "-f", help="json, srt, vtt or txt (--json is --format json)."),
    word_timestamps: bool = typer.Option(False, "--word-timestamps", help="Time every word (json output)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
    device: Optional[str] = typer.Option(None, "--device", help="auto (GPU when there is one), cpu or cuda."),
    as_json: JsonFlag = False,
) -> None:
    """Transcribe (or translate to English) any audio/video file, like the `whisper` command."""
    s = settings(model=model, engine=engine, device=device, translator=translator)
    if fmt not in subtitles.FORMATS:
        raise ClipwatchError(f"unknown format {fmt!r}; choose one of: {', '.join(subtitles.FORMATS)}")
    fmt = output_format(as_json, fmt, "txt", subtitles.FORMATS) or "txt"
    text_translator = check_translator(s, wanted=True) if task == "translate" else None
    with Progress(TextColumn("transcribing"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                  console=err_console, transient=True) as progress:
        bar = progress.add_task("t", total=None)
        result = tr.transcribe(file, model=s.model, engine=s.engine, language=language,
                               task="transcribe" if text_translator else task,
                               word_timestamps=word_timestamps, models_dir=s.models_dir, device=s.device,
                               batch_size=s.whisper_chunks,
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
