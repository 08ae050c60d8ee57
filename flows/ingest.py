"""The ingest flow: discover → fetch (parallel, retried) → keyframes → audio profile → transcribe → tag → indexed.

Each video is one job (``pipeline.stages.Job``): its audio is decoded once and each stage's result is handed to
the next in memory. Each video is independent: a failure is recorded as an event and reported, and the rest of
the batch goes on.

Work overlaps across videos: downloads run side by side (network-bound), and each download's worker goes on to
find the video's shots and keyframes (one video at a time: ``MEDIA_SLOTS``) while the flow's own thread runs the
audio profile, Whisper and the tagger on the videos already there, one at a time because Whisper uses every core.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from pipeline.components import gather
from pipeline.config import Settings
from pipeline.errors import ClipwatchError, DiskFullError, DownloadError
from pipeline.preservation.sweep import sweep
from pipeline.preservation.watching import wants_comments
from pipeline.search import vectors as semantic
from pipeline.sources.discovery import Discovery, VideoRef, discover
from pipeline.sources.fetch import FetchOptions, fetch
from pipeline.stages import STAGES, runner
from pipeline.stages.base import Job, Stage, StageOutcome
from pipeline.storage.base import blob_store_for, catalogue_for
from pipeline.storage.files import fs_display

from .progress import reporter

log = logging.getLogger(__name__)


# Shot detection beside Whisper: one video's keyframes at a time, so Whisper keeps most of the cores.
MEDIA_SLOTS = threading.BoundedSemaphore(1)


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
    # optional components a stage went without (pipeline.components.Need as dicts), one per component
    needs: list[dict[str, str]] = field(default_factory=list)


@dataclass
class IngestReport:
    sources: list[dict[str, Any]] = field(default_factory=list)
    videos: list[VideoReport] = field(default_factory=list)
    semantic: dict[str, Any] | None = None
    swept: dict[str, Any] | None = None
    stopped: str | None = None  # why the batch stopped early (a full disk)

    @property
    def failed(self) -> int:
        return sum(1 for v in self.videos if v.status != "ok") + sum(1 for s in self.sources if s.get("error"))

    @property
    def needs(self) -> list[dict[str, str]]:
        """What was skipped for want of an optional component, once per component across the batch."""
        return [n.to_dict() for n in gather(n for v in self.videos for n in v.needs)]

    def to_dict(self) -> dict[str, Any]:
        return {"sources": self.sources, "videos": [asdict(v) for v in self.videos], "semantic": self.semantic,
                "failed": self.failed, "swept": self.swept, "stopped": self.stopped, "needs": self.needs}


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


@dataclass
class Prepared:
    """What a download worker hands back: the fetch outcome and the outcome (or error) of each media stage."""

    fetch: StageOutcome
    media: dict[str, tuple[StageOutcome | None, str | None]] = field(default_factory=dict)


@task(name="fetch", retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=_retry_network_only,
      tags=["clipwatch-download"], cache_policy=NO_CACHE)
def fetch_task(ref: VideoRef, settings: Settings, source_id: int | None) -> StageOutcome:
    archive = blob_store_for(settings)
    with catalogue_for(settings) as store:
        def is_archived(vid: str) -> bool:
            row = store.find_video(vid)
            return bool(row and row["media_sha256"] and store.media_file(row["media_sha256"])
                        and archive.exists(store.media_file(row["media_sha256"])["path"]))

        rep = reporter()
        rep.stage_start(ref.title or ref.url, "fetch")
        opts = FetchOptions(is_archived=is_archived, comments=settings.comments or wants_comments(ref.source_url),
                            progress=lambda done, total: rep.stage_progress(ref.title or ref.url, "fetch", done, total))
        t0 = time.perf_counter()
        with disk_full_as_error(settings):
            fetched = fetch(ref.url, archive, opts, source_url=ref.source_url)
            try:
                outcome = runner.record_fetch(store, archive, fetched, source_id)
            finally:
                fetched.cleanup()
        outcome.seconds = time.perf_counter() - t0
        return outcome


@task(name="prepare", cache_policy=NO_CACHE)
def prepare_task(ref: VideoRef, settings: Settings, source_id: int | None, force: bool = False) -> Prepared:
    """Download, then (in the same worker) the stages that read only pictures — shots, keyframes, text on screen —
    overlapping the transcription of earlier videos."""
    prepared = Prepared(fetch_task(ref, settings, source_id))
    with MEDIA_SLOTS:
        prepared.media = run_pool_stages(prepared.fetch.video_id, settings, "media", force)
    return prepared


def run_pool_stages(video_id: str, settings: Settings, pool: str, force: bool = False
                    ) -> dict[str, tuple[StageOutcome | None, str | None]]:
    """One video's stages of one pool ("media": pictures only; "asr": sound, words, tags), in pipeline order:
    the outcome (or error) of each. A full disk stops (DiskFullError); any other failure is that stage's alone."""
    results: dict[str, tuple[StageOutcome | None, str | None]] = {}
    with catalogue_for(settings) as store:
        try:
            job = Job(store, blob_store_for(settings), settings, video_id, force=force)
        except ClipwatchError as exc:
            return {cls.name: (None, str(exc)) for cls in STAGES if cls.pool == pool}
        with job:
            for cls in STAGES:
                if cls.pool != pool:
                    continue
                reporter().stage_start(video_id, cls.name)
                try:
                    with disk_full_as_error(settings):
                        results[cls.name] = (stage_task.with_options(name=cls.name)(job, cls()), None)
                except DiskFullError:
                    raise  # stops the batch
                except ClipwatchError as exc:
                    results[cls.name] = (None, str(exc))
    return results


@task(name="stage", cache_policy=NO_CACHE)
def stage_task(job: Job, stage: Stage) -> StageOutcome:
    return runner.run_stage(job, stage, progress=lambda d, t: reporter().stage_progress(job.video_id, stage.name, d, t))


def _record(report: VideoReport, video_id: str, stage: str, outcome: StageOutcome | None, error: str | None,
            settings: Settings) -> None:
    if error is not None:
        report.stages[stage], report.messages[stage] = "failed", error
        report.status, report.error = "failed", f"{stage}: {error}"
        reporter().stage_end(video_id, stage, "failed", error)
        with catalogue_for(settings) as store:
            store.add_event("failed", video_id=video_id, detail={"stage": stage, "error": error})
        return
    assert outcome is not None
    report.stages[stage], report.messages[stage] = outcome.status, outcome.message
    report.seconds[stage] = round(outcome.seconds, 3)
    report.needs.extend(n for n in outcome.detail.get("needs", ()) if n not in report.needs)
    reporter().stage_end(video_id, stage, outcome.status, outcome.message)


def analyse(video_id: str, settings: Settings, report: VideoReport, force: bool = False,
            done: set[str] | None = None) -> None:
    """Run one video's job through every analysis stage not in ``done``; a stage's failure is recorded, not fatal."""
    done = done or set()
    with catalogue_for(settings) as store:
        try:
            job = Job(store, blob_store_for(settings), settings, video_id, force=force)
        except ClipwatchError as exc:
            for cls in STAGES:
                _record(report, video_id, cls.name, None, str(exc), settings)
            return
        with job:
            for cls in STAGES:
                if cls.name in done:
                    continue
                stage = cls()
                reporter().stage_start(video_id, stage.name)
                try:
                    with disk_full_as_error(settings):
                        outcome = stage_task.with_options(name=stage.name)(job, stage)
                except DiskFullError:
                    report.stages[stage.name], report.status = "failed", "failed"
                    raise  # stops the batch; nothing more can be written
                except ClipwatchError as exc:
                    _record(report, video_id, stage.name, None, str(exc), settings)
                    continue
                _record(report, video_id, stage.name, outcome, None, settings)


class disk_full_as_error:
    """A full disk (ENOSPC from a write, SQLITE_FULL from the catalogue) becomes one DiskFullError."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def __enter__(self):
        return self

    def __exit__(self, typ, exc, tb):
        full = (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or \
            (isinstance(exc, sqlite3.OperationalError) and "full" in str(exc))
        if full:
            raise DiskFullError(f"the disk holding {self.settings.data_dir} is full; the batch stopped and everything "
                                "archived before is kept — free some space and run the same ingest again") from exc
        return False


@task(name="index-semantic", cache_policy=NO_CACHE)
def semantic_index_task(settings: Settings) -> dict[str, Any]:
    """Embed new transcript segments for --semantic/--hybrid search (once per batch: the vector file is rewritten)."""

    with catalogue_for(settings) as store:
        rep = semantic.index_segments(
            store, progress=lambda done, total: reporter().stage_progress("semantic index", "embed", done, total))
    return {"embedded": rep.embedded, "total": rep.total, "seconds": round(rep.seconds, 2)}


def update_semantic_index(settings: Settings, report: "IngestReport") -> None:
    if not settings.semantic or not any(v.stages.get("transcribe") == "done" for v in report.videos):
        return
    if settings.database_url:  # the vector file lives beside clipwatch.db; not built for PostgreSQL yet
        report.semantic = {"error": "semantic search needs the SQLite catalogue for now; word search is up to date"}
        return
    reporter().stage_start("semantic index", "embed")
    try:
        report.semantic = semantic_index_task(settings)
    except ClipwatchError as exc:  # word search still works; say why semantic search will not
        report.semantic = {"error": str(exc)}
        reporter().stage_end("semantic index", "embed", "failed", str(exc))
        return
    reporter().stage_end("semantic index", "embed", "done", f"{report.semantic['embedded']} new segments embedded")


def sweep_and_discover(store, settings: Settings, sources: list[str], report: IngestReport,
                       find: Callable[[str], Discovery]) -> list[tuple[VideoRef, int | None]]:
    """Sweep what a crash left, then list each source (``find``: a retried task in a flow, plain ``discover``
    elsewhere); returns every video found with its source's id. A source that fails is reported, not fatal."""

    swept = sweep(store, blob_store_for(settings))
    if swept.removed or swept.orphans:
        report.swept = swept.to_dict()
    work: list[tuple[VideoRef, int | None]] = []
    for source in sources:
        try:
            found = find(source)
        except ClipwatchError as exc:
            report.sources.append({"source": source, "error": str(exc)})
            reporter().stage_end(source, "discover", "failed", str(exc))
            continue
        source_id = store.upsert_source(found.source_url, found.kind, found.title)
        report.sources.append({"source": source, "kind": found.kind, "title": found.title, "videos": len(found.refs)})
        reporter().discovered(source, len(found.refs), found.kind)
        work.extend((ref, source_id) for ref in found.refs)
    return work


# Downloads are network-bound and run side by side; more than a few at once only
# invites rate limiting by the platform. CLIPWATCH_DOWNLOADS changes the cap.
DOWNLOAD_WORKERS = max(1, int(os.environ.get("CLIPWATCH_DOWNLOADS", "4") or 4))


# Prefect types task_runner as TaskRunner[PrefectFuture[Any]], which its own ThreadPoolTaskRunner (a
# TaskRunner[PrefectConcurrentFuture[R]]) does not match, TaskRunner being invariant: a gap in Prefect's typing
@flow(name="ingest", log_prints=False,
      task_runner=ThreadPoolTaskRunner(max_workers=DOWNLOAD_WORKERS))  # type: ignore[arg-type]
def ingest_flow(sources: list[str], settings: Settings | None = None, force: bool = False) -> IngestReport:
    settings = settings or Settings()
    settings.ensure_dirs()
    report = IngestReport()
    try:
        with disk_full_as_error(settings), catalogue_for(settings) as store:
            work = sweep_and_discover(store, settings, sources, report, discover_task)
    except DiskFullError as exc:
        report.stopped = str(exc)
        return report

    futures = [prepare_task.submit(ref, settings, sid, force) for ref, sid in work]
    for (ref, _sid), fut in zip(work, futures):
        vr = VideoReport(ref=fs_display(ref.url), title=ref.title)
        report.videos.append(vr)
        label = ref.title or vr.ref
        if report.stopped:
            vr.status, vr.error, vr.stages["fetch"] = "failed", "not attempted: the batch stopped (disk full)", "not-attempted"
            _cancel(fut)
            continue
        try:
            prepared = fut.result()
        except DiskFullError as exc:
            vr.status, vr.error, vr.stages["fetch"] = "failed", str(exc), "failed"
            report.stopped = str(exc)
            continue
        except ClipwatchError as exc:
            vr.status = "unavailable" if exc.__class__.__name__ == "VideoUnavailable" else "failed"
            vr.error, vr.stages["fetch"] = str(exc), "failed"
            reporter().stage_end(label, "fetch", "failed", str(exc))
            with catalogue_for(settings) as store:
                store.add_event("failed", detail={"stage": "fetch", "url": ref.url, "error": str(exc)})
            continue
        outcome = prepared.fetch
        vr.video_id = outcome.video_id
        vr.stages["fetch"], vr.messages["fetch"] = outcome.status, outcome.message
        vr.seconds["fetch"] = round(outcome.seconds, 3)
        reporter().stage_end(label, "fetch", outcome.status, outcome.message)
        for name, (done_outcome, error) in prepared.media.items():
            _record(vr, outcome.video_id, name, done_outcome, error, settings)
        try:
            analyse(outcome.video_id, settings, vr, force, done=set(prepared.media))
        except DiskFullError as exc:
            vr.error = str(exc)
            report.stopped = str(exc)
    if not report.stopped:
        update_semantic_index(settings, report)
    return report


def _cancel(fut) -> None:
    """Stop a download that has not started (a running one finishes or fails on its own)."""
    inner = getattr(fut, "wrapped_future", None)
    if inner is not None:
        inner.cancel()
    try:
        fut.wait(0)
    except Exception:  # noqa: BLE001 - its outcome no longer matters
        pass

