"""The ingest flow: discover → fetch (parallel, retried) → keyframes → transcribe → tag → indexed.

Each video is independent: a failure is recorded as an event and reported, and
the rest of the batch goes on. Downloads run concurrently (network-bound);
analysis runs one video at a time because Whisper already uses every core.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from pipeline.stages import runner
from pipeline.storage.files import Archive
from pipeline.config import Settings
from pipeline.errors import ClipwatchError, DownloadError
from pipeline.sources.fetch import FetchOptions, fetch
from pipeline.sources.discovery import Discovery, VideoRef, discover
from pipeline.storage.sqlite.catalogue import Store

from .progress import reporter

log = logging.getLogger(__name__)

STAGES = ("fetch", "keyframes", "transcribe", "tag")


@dataclass
class VideoReport:
    ref: str
    video_id: str | None = None
    title: str | None = None
    status: str = "ok"  # ok | failed | unavailable
    error: str | None = None
    stages: dict[str, str] = field(default_factory=dict)  # stage -> done | skipped | not-applicable | failed
    messages: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each stage that ran


@dataclass
class IngestReport:
    sources: list[dict[str, Any]] = field(default_factory=list)
    videos: list[VideoReport] = field(default_factory=list)
    semantic: dict[str, Any] | None = None

    @property
    def failed(self) -> int:
        return sum(1 for v in self.videos if v.status != "ok") + sum(1 for s in self.sources if s.get("error"))

    def to_dict(self) -> dict[str, Any]:
        return {"sources": self.sources, "videos": [asdict(v) for v in self.videos], "semantic": self.semantic,
                "failed": self.failed}


def _retry_network_only(task, task_run, state) -> bool:
    """Retry transient network failures; a removed video or a corrupt file will not get better."""
    try:
        state.result()
    except DownloadError:
        return True
    except Exception:
        return False
    return False


@task(name="discover", retries=2, retry_delay_seconds=3, retry_condition_fn=_retry_network_only, cache_policy=NO_CACHE)
def discover_task(source: str) -> Discovery:
    return discover(source)


@task(name="fetch", retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=_retry_network_only,
      tags=["clipwatch-download"], cache_policy=NO_CACHE)
def fetch_task(ref: VideoRef, settings: Settings, source_id: int | None) -> runner.StageOutcome:
    archive = Archive(settings.archive_dir)
    with Store(settings.db_path) as store:
        def is_archived(vid: str) -> bool:
            row = store.find_video(vid)
            return bool(row and row["media_sha256"] and store.media_file(row["media_sha256"])
                        and archive.abspath(store.media_file(row["media_sha256"])["path"]).is_file())

        rep = reporter()
        rep.stage_start(ref.title or ref.url, "fetch")
        opts = FetchOptions(is_archived=is_archived,
                            progress=lambda done, total: rep.stage_progress(ref.title or ref.url, "fetch", done, total))
        t0 = time.perf_counter()
        fetched = fetch(ref.url, archive, opts, source_url=ref.source_url)
        try:
            outcome = runner.record_fetch(store, archive, fetched, source_id)
        finally:
            fetched.cleanup()
        outcome.seconds = time.perf_counter() - t0
        return outcome


@task(name="keyframes", cache_policy=NO_CACHE)
def keyframes_task(video_id: str, settings: Settings, force: bool = False) -> runner.StageOutcome:
    with Store(settings.db_path) as store:
        return runner.run_keyframes(store, Archive(settings.archive_dir), video_id, force=force,
                                    progress=lambda d, t: reporter().stage_progress(video_id, "keyframes", d, t))


@task(name="copies", cache_policy=NO_CACHE)
def copies_task(video_id: str, settings: Settings, force: bool = False) -> runner.StageOutcome:
    with Store(settings.db_path) as store:
        return runner.run_copies(store, Archive(settings.archive_dir), video_id, force=force)


@task(name="ocr", cache_policy=NO_CACHE)
def ocr_task(video_id: str, settings: Settings, force: bool = False) -> runner.StageOutcome:
    with Store(settings.db_path) as store:
        return runner.run_ocr(store, Archive(settings.archive_dir), video_id, force=force)


@task(name="transcribe", cache_policy=NO_CACHE)
def transcribe_task(video_id: str, settings: Settings, force: bool = False) -> runner.StageOutcome:
    with Store(settings.db_path) as store:
        return runner.run_transcribe(store, Archive(settings.archive_dir), video_id, settings, force=force,
                                     progress=lambda d, t: reporter().stage_progress(video_id, "transcribe", d, t))


@task(name="tag", cache_policy=NO_CACHE)
def tag_task(video_id: str, settings: Settings, force: bool = False) -> runner.StageOutcome:
    with Store(settings.db_path) as store:
        return runner.run_tagging(store, Archive(settings.archive_dir), video_id, force=force)


def analyse(video_id: str, settings: Settings, report: VideoReport, force: bool = False) -> None:
    """Keyframes, transcript and tags for one archived video; each stage's failure is recorded, not fatal."""
    for stage, fn in (("keyframes", keyframes_task), ("copies", copies_task), ("ocr", ocr_task),
                      ("transcribe", transcribe_task), ("tag", tag_task)):
        reporter().stage_start(video_id, stage)
        try:
            outcome = fn(video_id, settings, force)
        except ClipwatchError as exc:
            report.stages[stage], report.messages[stage] = "failed", str(exc)
            report.status, report.error = "failed", f"{stage}: {exc}"
            reporter().stage_end(video_id, stage, "failed", str(exc))
            with Store(settings.db_path) as store:
                store.add_event("failed", video_id=video_id, detail={"stage": stage, "error": str(exc)})
            continue
        report.stages[stage], report.messages[stage] = outcome.status, outcome.message
        report.seconds[stage] = round(outcome.seconds, 3)
        reporter().stage_end(video_id, stage, outcome.status, outcome.message)


@task(name="index-semantic", cache_policy=NO_CACHE)
def semantic_index_task(settings: Settings) -> dict[str, Any]:
    """Embed new transcript segments for --semantic/--hybrid search (once per batch: the vector file is rewritten)."""
    from pipeline.search import vectors as semantic

    with Store(settings.db_path) as store:
        rep = semantic.index_segments(
            store, progress=lambda done, total: reporter().stage_progress("semantic index", "embed", done, total))
    return {"embedded": rep.embedded, "total": rep.total, "seconds": round(rep.seconds, 2)}


def update_semantic_index(settings: Settings, report: "IngestReport") -> None:
    if not settings.semantic or not any(v.stages.get("transcribe") == "done" for v in report.videos):
        return
    reporter().stage_start("semantic index", "embed")
    try:
        report.semantic = semantic_index_task(settings)
    except ClipwatchError as exc:  # word search still works; say why semantic search will not
        report.semantic = {"error": str(exc)}
        reporter().stage_end("semantic index", "embed", "failed", str(exc))
        return
    reporter().stage_end("semantic index", "embed", "done", f"{report.semantic['embedded']} new segments embedded")


# Downloads are network-bound and run side by side; more than a few at once only
# invites rate limiting by the platform. CLIPWATCH_DOWNLOADS changes the cap.
DOWNLOAD_WORKERS = max(1, int(os.environ.get("CLIPWATCH_DOWNLOADS", "4") or 4))


@flow(name="ingest", log_prints=False, task_runner=ThreadPoolTaskRunner(max_workers=DOWNLOAD_WORKERS))
def ingest_flow(sources: list[str], settings: Settings | None = None, force: bool = False) -> IngestReport:
    settings = settings or Settings()
    settings.ensure_dirs()
    report = IngestReport()
    work: list[tuple[VideoRef, int | None]] = []
    with Store(settings.db_path) as store:
        for source in sources:
            try:
                found = discover_task(source)
            except ClipwatchError as exc:
                report.sources.append({"source": source, "error": str(exc)})
                reporter().stage_end(source, "discover", "failed", str(exc))
                continue
            source_id = store.upsert_source(found.source_url, found.kind, found.title)
            report.sources.append({"source": source, "kind": found.kind, "title": found.title, "videos": len(found.refs)})
            reporter().discovered(source, len(found.refs), found.kind)
            work.extend((ref, source_id) for ref in found.refs)

    futures = [fetch_task.submit(ref, settings, sid) for ref, sid in work]
    for (ref, _sid), fut in zip(work, futures):
        vr = VideoReport(ref=ref.url, title=ref.title)
        report.videos.append(vr)
        label = ref.title or ref.url
        try:
            outcome = fut.result()
        except ClipwatchError as exc:
            vr.status = "unavailable" if exc.__class__.__name__ == "VideoUnavailable" else "failed"
            vr.error, vr.stages["fetch"] = str(exc), "failed"
            reporter().stage_end(label, "fetch", "failed", str(exc))
            with Store(settings.db_path) as store:
                store.add_event("failed", detail={"stage": "fetch", "url": ref.url, "error": str(exc)})
            continue
        vr.video_id = outcome.video_id
        vr.stages["fetch"], vr.messages["fetch"] = outcome.status, outcome.message
        vr.seconds["fetch"] = round(outcome.seconds, 3)
        reporter().stage_end(label, "fetch", outcome.status, outcome.message)
        analyse(outcome.video_id, settings, vr, force)
    update_semantic_index(settings, report)
    return report
