"""One overlapped pass per video, with Prefect or without it (issue 19).

Each video has lanes that meet at a join:

* the **audio lane** (the caller's thread): decode once → Whisper (the ``asr`` stages that neither join nor run
  beside); it starts as soon as the video's download has landed and sets the video's pace;
* **beside it** (``Stage.beside``, one side thread on the same decoded samples): the audio profile → the speakers;
  Whisper waits for the profile only to flag its segments;
* the **picture lane** (a download worker, right after its download): shots and keyframes → text on screen —
  the ``media`` pool;
* the **join** (``Stage.joins``): copies (keyframe hashes and the audio fingerprint) and the tagger (everything
  the video's other stages wrote), after all of them — in a batch on the **join lane** (``JoinLane``: one thread,
  videos in batch order), beside the next video's audio lane, with the video's decoded audio handed over.

Everything but the audio lane runs at background priority (``background_priority``: nice 10): on a 2-core machine
Whisper keeps about 1.4 cores busy, and the other lanes use the rest instead of slowing it down.

For a batch, downloads run side by side (``DOWNLOAD_WORKERS``) and the picture lanes run one video at a time in
batch order (``PictureTurns``), so video N+1's download and pictures overlap video N's Whisper. Every stage runs
through ``pipeline.stages.runner.run_stage`` exactly as before: keys in ``stage_runs``, events, skip / force /
reprocess; one stage's failure is that stage's alone.

``Steps`` says how the work is called: plain functions here (``ingest``: no Prefect imported, no temporary API
server started — what ``clipwatch ingest`` runs when no Prefect server is configured), or Prefect tasks
(``flows.ingest.ingest_flow``, the same scheduler with every step a task). This module never imports Prefect.
"""

from __future__ import annotations

import contextvars
import errno
import logging
import os
import sqlite3
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from pipeline.components import gather
from pipeline.config import Settings, env_int
from pipeline.errors import ClipwatchError, DiskFullError, DownloadError
from pipeline.memory import limit_malloc_arenas, release_free_memory
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

# Downloads are network-bound and run side by side; more than a few at once only
# invites rate limiting by the platform. CLIPWATCH_DOWNLOADS changes the cap.
DOWNLOAD_WORKERS = env_int("CLIPWATCH_DOWNLOADS", 4, 1) or 4  # the same reading as flows/pools' limit

# Picture lanes of concurrent batches in one process (a recorder beside an ingest): one video's pictures at a
# time, so Whisper keeps most of the cores.
MEDIA_SLOTS = threading.BoundedSemaphore(1)

# The nice value of the threads that run beside Whisper (background_priority).
BACKGROUND_NICE = 10

# The error a stage gets when the disk filled up under it: recorded in the report only (no event: the disk is full).
DISK_FULL = "the disk is full"

# Retries of transient network failures (DownloadError), as the Prefect tasks in flows.ingest declare them.
FETCH_RETRY_DELAYS = (2.0, 10.0)
DISCOVER_RETRY_DELAYS = (3.0, 3.0)


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
    # when each stage ran: [start, finish] in seconds since the epoch (which lanes overlapped, and for how long)
    spans: dict[str, list[float]] = field(default_factory=dict)


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


# -- the steps, plain ------------------------------------------------------------------------------------------

def fetch_video(ref: VideoRef, settings: Settings, source_id: int | None) -> StageOutcome:
    """Download one video (unless its file is archived already) and record it (``runner.record_fetch``).

    Arguments:
        ref: The video found by discovery.
        settings: The settings.
        source_id: The catalogue id of the source it was found in, if any.

    Returns:
        The fetch's outcome (``done``, or ``skipped`` when the file was archived before).
    """
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


def run_one_stage(job: Job, stage: Stage) -> StageOutcome:
    """One stage through the runner (key, skip, outcome recorded), its progress to the reporter."""
    return runner.run_stage(job, stage, progress=lambda d, t: reporter().stage_progress(job.video_id, stage.name, d, t))


def embed_segments(settings: Settings) -> dict[str, Any]:
    """Embed new transcript segments for --semantic/--hybrid search (once per batch: the vector file is rewritten)."""
    with catalogue_for(settings) as store:
        rep = semantic.index_segments(
            store, progress=lambda done, total: reporter().stage_progress("semantic index", "embed", done, total))
    return {"embedded": rep.embedded, "total": rep.total, "seconds": round(rep.seconds, 2)}


def _retried(fn: Callable[..., Any], delays: tuple[float, ...], *args: Any) -> Any:
    """``fn(*args)``, again after each delay while it fails with a DownloadError (a network hiccup)."""
    for delay in delays:
        try:
            return fn(*args)
        except DownloadError as exc:
            log.info("retrying in %.0f s: %s", delay, exc)
            time.sleep(delay)
    return fn(*args)


class Steps(Protocol):
    """How a batch calls its work: plain functions (``PlainSteps``) or Prefect tasks (``flows.ingest``)."""

    def discover(self, source: str) -> Discovery: ...
    def stage(self, job: Job, stage: Stage) -> StageOutcome: ...
    def embed(self, settings: Settings) -> dict[str, Any]: ...
    def submit_prepare(self, ref: VideoRef, settings: Settings, source_id: int | None, force: bool,
                       landed: Future, turns: "PictureTurns", index: int) -> Any:
        """Start ``prepare`` on a download worker; returns a future (``result()``, ``cancel``) of its Pictures."""


class PlainSteps:
    """The steps as plain calls: downloads on a thread pool this object owns (``with PlainSteps() as steps``)."""

    def __init__(self, workers: int = DOWNLOAD_WORKERS):
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="clipwatch-download")

    def __enter__(self) -> "PlainSteps":
        return self

    def __exit__(self, *exc) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def discover(self, source: str) -> Discovery:
        return _retried(discover, DISCOVER_RETRY_DELAYS, source)

    def fetch(self, ref: VideoRef, settings: Settings, source_id: int | None) -> StageOutcome:
        return _retried(fetch_video, FETCH_RETRY_DELAYS, ref, settings, source_id)

    def stage(self, job: Job, stage: Stage) -> StageOutcome:
        return run_one_stage(job, stage)

    def embed(self, settings: Settings) -> dict[str, Any]:
        return embed_segments(settings)

    def submit_prepare(self, ref, settings, source_id, force, landed, turns, index) -> Future:
        return self.pool.submit(prepare, ref, settings, source_id, force, landed, turns, index, self.fetch, self)


# -- the picture lane ------------------------------------------------------------------------------------------

@dataclass
class Pictures:
    """What a picture lane hands to the join: each picture stage's outcome (or error), when it ran, and the
    keyframes it found (with the mirror and crop hashes copies matches on)."""

    results: dict[str, tuple[StageOutcome | None, str | None]] = field(default_factory=dict)
    spans: dict[str, list[float]] = field(default_factory=dict)
    keyframes: Any = None
    job_error: str | None = None  # the job could not be opened (its stages were not run)


class PictureTurns:
    """Picture lanes in batch order: video i's pictures start once those of every video before it are finished
    (or will never run: a failed download, a cancelled one). ``close`` releases every waiter."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._done: set[int] = set()
        self._next = 0
        self._closed = False

    def wait(self, index: int) -> bool:
        """Block until it is video ``index``'s turn; False when the batch was closed instead."""
        with self._cv:
            self._cv.wait_for(lambda: self._closed or self._next >= index)
            return not self._closed

    def finish(self, index: int) -> None:
        with self._cv:
            self._done.add(index)
            while self._next in self._done:
                self._next += 1
            self._cv.notify_all()

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()


class Warmer:
    """Each stage's ``warm`` (the speaker encoder's weights), in pipeline order in one side
    thread, started when the batch's first new download lands (a re-run that downloads nothing loads nothing), so
    the loading overlaps the stages before; a lane waits for a stage's warm-up before running it (never two loads
    of one model). ``join`` at the end of the batch: no thread is left loading as the process exits."""

    def __init__(self, settings: Settings, classes: list[type[Stage]]) -> None:
        self.ready = {cls.name: threading.Event() for cls in classes}
        self.thread = threading.Thread(target=self._run, args=(settings, classes), name="clipwatch-warm", daemon=True)

    def start(self) -> None:
        if not self.thread.is_alive() and not self.thread.ident:
            self.thread.start()

    def join(self) -> None:
        if self.thread.ident:
            self.thread.join()

    def _run(self, settings: Settings, classes: list[type[Stage]]) -> None:
        for cls in classes:
            try:
                cls().warm(settings)
            except Exception as exc:  # noqa: BLE001 - the stage's own run reports it (or skips) in its place
                log.debug("warming %s: %s", cls.name, exc)
            finally:
                self.ready[cls.name].set()

    def wait(self, name: str) -> None:
        event = self.ready.get(name)
        if event is not None and self.thread.ident:
            event.wait()


def lane_stages(lane: str) -> list[type[Stage]]:
    """The stages of one lane, in pipeline order: "pictures" (the media pool), "audio" (the asr pool, not joining),
    "beside" (in a thread beside the audio lane: ``Stage.beside``), "join" (after all)."""
    if lane == "pictures":
        return [cls for cls in STAGES if cls.pool == "media"]
    if lane == "audio":
        return [cls for cls in STAGES if cls.pool != "media" and not cls.joins and not cls.beside]
    if lane == "beside":
        return [cls for cls in STAGES if cls.pool != "media" and not cls.joins and cls.beside]
    return [cls for cls in STAGES if cls.pool != "media" and cls.joins]


def background_priority() -> None:
    """Lower the calling thread's CPU priority (nice 10): the picture lane and the stages beside Whisper use the
    cycles Whisper leaves (it keeps about 1.4 of 2 cores busy) instead of slowing it down; Whisper sets the pace of
    a video. Linux gives each thread its own nice value; elsewhere this does nothing. Threads it starts inherit it.
    """
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        if current < BACKGROUND_NICE:
            os.setpriority(os.PRIO_PROCESS, tid, BACKGROUND_NICE)
    except (AttributeError, OSError):  # no per-thread priority here (not Linux): the lanes share the cores evenly
        pass


def run_stages(job: Job, classes: list[type[Stage]], steps: Steps, settings: Settings, results: dict, spans: dict,
               warmer: Warmer | None = None) -> None:
    """Run ``classes`` on ``job`` in order; each outcome (or error) into ``results``, when it ran into ``spans``.
    A full disk stops (DiskFullError); any other failure is that stage's alone."""
    for cls in classes:
        reporter().stage_start(job.video_id, cls.name)
        start = time.time()
        if warmer is not None:
            warmer.wait(cls.name)
        try:
            with disk_full_as_error(settings):
                results[cls.name] = (steps.stage(job, cls()), None)
        except DiskFullError:
            results[cls.name] = (None, DISK_FULL)
            raise
        except ClipwatchError as exc:
            results[cls.name] = (None, str(exc))
        finally:
            spans[cls.name] = [round(start, 3), round(time.time(), 3)]


def picture_lane(video_id: str, settings: Settings, force: bool, steps: Steps) -> Pictures:
    """One video's picture stages (shots and keyframes, text on screen) in a job of their own, at background
    priority (``background_priority``)."""
    background_priority()
    pictures = Pictures()
    with catalogue_for(settings) as store:
        try:
            job = Job(store, blob_store_for(settings), settings, video_id, force=force)
        except ClipwatchError as exc:
            pictures.job_error = str(exc)
            return pictures
        with job:
            run_stages(job, lane_stages("pictures"), steps, settings, pictures.results, pictures.spans)
            pictures.keyframes = job.keyframes
    return pictures


def beside_lane(job: Job, classes: list[type[Stage]], steps: Steps, settings: Settings, results: dict, spans: dict,
                warmer: Warmer | None = None) -> None:
    """Stages that run beside the audio lane (``Stage.beside``: the audio profile, the speakers), in a thread of
    their own at background priority, with their own catalogue connection and ``job``'s decoded audio; each outcome
    (or error) into ``results``, when it ran into ``spans``. The profile goes to ``job`` as soon as it is made
    (``job.profile_ready``). DiskFullError when the disk filled up."""
    background_priority()
    try:
        with catalogue_for(settings) as store:
            with job.beside(store) as side:
                for cls in classes:
                    try:
                        run_stages(side, [cls], steps, settings, results, spans, warmer)
                    finally:
                        if cls.name == "audio":
                            job.profile = side.profile
                            if job.profile_ready is not None:
                                job.profile_ready.set()
    finally:
        if job.profile_ready is not None:
            job.profile_ready.set()  # a lane stage waiting for the profile never waits for a thread that is over


def _join_beside(side: list[tuple[Future, dict, dict]], report: VideoReport, video_id: str, settings: Settings) -> None:
    """Wait for the side lanes and record their outcomes; a full disk in one of them stops the batch like one in
    the audio lane (DiskFullError)."""
    full: BaseException | None = None
    for fut, results, spans in side:
        exc = fut.exception()
        _record_all(report, video_id, results, spans, settings)
        if isinstance(exc, DiskFullError):
            full = exc
        elif exc is not None:
            raise exc
    if full is not None:
        raise full


def prepare(ref: VideoRef, settings: Settings, source_id: int | None, force: bool, landed: Future,
            turns: PictureTurns, index: int, fetch_step: Callable[..., StageOutcome], steps: Steps) -> Pictures:
    """On a download worker: download, hand the outcome to the audio lane (``landed``), then, in its turn, the
    video's picture lane.

    Arguments:
        ref, settings, source_id, force: The video, the settings, its source's id, redo finished stages.
        landed: Set to the fetch's outcome (or its exception) as soon as the download is recorded.
        turns: The batch's picture turns; ``index`` is this video's place in the batch.
        fetch_step: The fetch (plain or a Prefect task); steps: how picture stages are called.

    Returns:
        The picture lane's outcomes (none when the download failed).
    """
    try:
        try:
            outcome = fetch_step(ref, settings, source_id)
        except BaseException as exc:
            landed.set_exception(exc)
            return Pictures()
        landed.set_result(outcome)
        if not turns.wait(index):
            return Pictures()
        with MEDIA_SLOTS:
            return picture_lane(outcome.video_id, settings, force, steps)
    finally:
        turns.finish(index)


def in_thread(fn: Callable[..., Any], *args: Any) -> Future:
    """``fn(*args)`` in a new thread with this thread's context (a Prefect flow's run context included, so a task
    called there is a task of the same flow run); a future of its result."""
    fut: Future = Future()
    ctx = contextvars.copy_context()

    def work() -> None:
        try:
            fut.set_result(ctx.run(fn, *args))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
            fut.set_exception(exc)

    threading.Thread(target=work, name="clipwatch-pictures", daemon=True).start()
    return fut


# -- one video: both lanes, then the join ----------------------------------------------------------------------

def record(report: VideoReport, video_id: str, stage: str, outcome: StageOutcome | None, error: str | None,
           settings: Settings, span: list[float] | None = None) -> None:
    """One stage's outcome into the video's report (and a ``failed`` event for an error)."""
    if span is not None:
        report.spans[stage] = span
    if error is not None:
        report.stages[stage], report.messages[stage] = "failed", error
        report.status, report.error = "failed", f"{stage}: {error}"
        reporter().stage_end(video_id, stage, "failed", error)
        if error == DISK_FULL:
            return
        with catalogue_for(settings) as store:
            store.add_event("failed", video_id=video_id, detail={"stage": stage, "error": error})
        return
    assert outcome is not None
    report.stages[stage], report.messages[stage] = outcome.status, outcome.message
    report.seconds[stage] = round(outcome.seconds, 3)
    report.needs.extend(n for n in outcome.detail.get("needs", ()) if n not in report.needs)
    reporter().stage_end(video_id, stage, outcome.status, outcome.message)


def _record_all(report: VideoReport, video_id: str, results: dict, spans: dict, settings: Settings) -> None:
    for name, (outcome, error) in results.items():
        record(report, video_id, name, outcome, error, settings, spans.get(name))


def overlapped_job(video_id: str, settings: Settings, report: VideoReport, force: bool, steps: Steps,
                   pictures: Callable[[], Pictures], warmer: Warmer | None = None,
                   joins: "JoinLane | None" = None) -> None:
    """The audio lane here, then the picture lane's results (``pictures()`` waits for them), then the join.

    Arguments:
        video_id: The archived video.
        settings: The settings.
        report: Its report, filled in stage by stage.
        force: Redo stages whose key is unchanged.
        steps: How stages are called.
        pictures: Waits for the picture lane running elsewhere and returns its Pictures.
        warmer: The batch's model loading, waited for stage by stage (None: each stage loads its own).
        joins: The batch's join lane: the join stages go there and this returns after the lanes (None: here).

    Raises:
        DiskFullError: the disk is full (the batch stops; what was recorded stays).
    """
    with catalogue_for(settings) as store:
        try:
            job = Job(store, blob_store_for(settings), settings, video_id, force=force)
        except ClipwatchError as exc:
            pictures()  # its lane could not open the job either: nothing of it to record
            for cls in STAGES:
                record(report, video_id, cls.name, None, str(exc), settings)
            return
        with job:
            results: dict[str, tuple[StageOutcome | None, str | None]] = {}
            spans: dict[str, list[float]] = {}
            side: list[tuple[Future, dict, dict]] = []  # the stages beside the audio lane: (future, results, spans)

            def start_beside(classes: list[type[Stage]]) -> None:
                if classes:
                    res: dict = {}
                    spn: dict = {}
                    side.append((in_thread(beside_lane, job, classes, steps, settings, res, spn, warmer), res, spn))

            try:
                if any(c.name == "audio" for c in lane_stages("beside")):
                    job.profile_ready = threading.Event()
                start_beside(lane_stages("beside"))
                run_stages(job, lane_stages("audio"), steps, settings, results, spans, warmer)
            except DiskFullError:
                _record_all(report, video_id, results, spans, settings)
                report.status = "failed"
                try:
                    _join_beside(side, report, video_id, settings)
                finally:
                    pictures()
                raise
            finally:
                for fut, _res, _spn in side:
                    fut.exception()  # wait: the side lanes read this job's decoded audio until they end
            _record_all(report, video_id, results, spans, settings)
            try:
                _join_beside(side, report, video_id, settings)
            except DiskFullError:
                report.status = "failed"
                pictures()
                raise
            pic = pictures()  # DiskFullError from the picture lane stops the batch here
            if pic.job_error is not None:
                for cls in lane_stages("pictures"):
                    record(report, video_id, cls.name, None, pic.job_error, settings)
            _record_all(report, video_id, pic.results, pic.spans, settings)
            if job.keyframes is None:  # fresh keyframes (mirror and crop hashes included) for copies
                job.keyframes = pic.keyframes
            if joins is not None:  # the join beside the next video's audio lane, with this job's decoded audio
                joins.submit(join_stages_of, Handover.of(job), report, steps, settings, warmer)
                return
            join_stages(job, report, steps, settings, warmer)


def join_stages(job: Job, report: VideoReport, steps: Steps, settings: Settings, warmer: Warmer | None = None) -> None:
    """A video's join stages (copies, the tagger: ``Stage.joins``) on ``job``, each outcome into ``report``."""
    results: dict[str, tuple[StageOutcome | None, str | None]] = {}
    spans: dict[str, list[float]] = {}
    try:
        run_stages(job, lane_stages("join"), steps, settings, results, spans, warmer)
    finally:
        release_free_memory()  # its stages' buffers are freed by now: their heap pages go back before the next video
        _record_all(report, job.video_id, results, spans, settings)


@dataclass
class Handover:
    """What a video's lanes hand to its join stages on the join lane: the decoded audio (its PCM file released by
    the join's job), the fresh keyframes, the profile and the transcripts."""

    video_id: str
    force: bool
    audio: tuple[Any, Any, str | None]
    keyframes: Any
    profile: Any
    transcript: Any
    translation: Any

    @classmethod
    def of(cls, job: Job) -> "Handover":
        return cls(job.video_id, job.force, job.detach_audio(), job.keyframes, job.profile, job.transcript,
                   job.translation)


def join_stages_of(handover: Handover, report: VideoReport, steps: Steps, settings: Settings,
                   warmer: Warmer | None = None) -> None:
    """On the join lane: the video's join stages in a job of their own (its own catalogue connection) with what
    its lanes handed over."""
    with catalogue_for(settings) as store:
        try:
            job = Job(store, blob_store_for(settings), settings, handover.video_id, force=handover.force)
        except ClipwatchError as exc:  # deleted meanwhile: the PCM file goes, the stages are failures of their own
            if handover.audio[0] is not None:
                Path(handover.audio[0]).unlink(missing_ok=True)
            for cls in lane_stages("join"):
                record(report, handover.video_id, cls.name, None, str(exc), settings)
            return
        with job:
            job.attach_audio(handover.audio)
            job.keyframes, job.profile = handover.keyframes, handover.profile
            job.transcript, job.translation = handover.transcript, handover.translation
            join_stages(job, report, steps, settings, warmer)


class JoinLane:
    """The batch's join stages, one video at a time in batch order (copies of video N+1 sees video N's), in one
    thread at background priority beside the next video's audio lane: Whisper does not wait for copies and the
    tagger. ``wait`` blocks until every join submitted has run; a full disk in one is raised from ``check``."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clipwatch-join",
                                       initializer=background_priority)
        self.futures: list[Future] = []

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        ctx = contextvars.copy_context()  # a Prefect flow's run context: its tasks stay in the same flow run
        self.futures.append(self.pool.submit(ctx.run, fn, *args))

    def check(self) -> None:
        """Raise the DiskFullError of a finished join, if any (the batch stops before its next video)."""
        for fut in self.futures:
            if fut.done() and isinstance(fut.exception(), DiskFullError):
                raise fut.exception()  # type: ignore[misc]

    def wait(self) -> None:
        """Every join submitted, finished; DiskFullError if one met a full disk, any other error as raised."""
        try:
            for fut in self.futures:
                fut.result()
        finally:
            self.pool.shutdown(wait=True)


def analyse(video_id: str, settings: Settings, report: VideoReport, force: bool = False,
            done: set[str] | None = None, steps: Steps | None = None) -> None:
    """Run one archived video through every analysis stage not in ``done`` — its picture lane in a thread beside
    its audio lane, then the join; a stage's failure is recorded, not fatal.

    Arguments:
        video_id: The video.
        settings: The settings.
        report: Its report.
        force: Redo stages whose key is unchanged.
        done: Stages already run (left out).
        steps: How stages are called (plain calls by default).
    """
    steps = steps or PlainSteps(workers=1)
    if done:
        with catalogue_for(settings) as store:
            try:
                job = Job(store, blob_store_for(settings), settings, video_id, force=force)
            except ClipwatchError as exc:
                for cls in STAGES:
                    if cls.name not in done:
                        record(report, video_id, cls.name, None, str(exc), settings)
                return
            with job:
                results: dict = {}
                spans: dict = {}
                try:
                    run_stages(job, [c for c in STAGES if c.name not in done], steps, settings, results, spans)
                finally:
                    _record_all(report, video_id, results, spans, settings)
        return
    lane = in_thread(picture_lane, video_id, settings, force, steps)
    overlapped_job(video_id, settings, report, force, steps, lane.result)


# -- a batch ---------------------------------------------------------------------------------------------------

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


def update_semantic_index(settings: Settings, report: IngestReport, embed: Callable[[Settings], dict] = embed_segments) -> None:
    """Embed the batch's new transcript segments (once per batch), when semantic search is on and words came in."""
    if not settings.semantic or not any(v.stages.get("transcribe") == "done" for v in report.videos):
        return
    if settings.database_url:  # the vector file lives beside clipwatch.db; not built for PostgreSQL yet
        report.semantic = {"error": "semantic search needs the SQLite catalogue for now; word search is up to date"}
        return
    reporter().stage_start("semantic index", "embed")
    try:
        report.semantic = embed(settings)
    except ClipwatchError as exc:  # word search still works; say why semantic search will not
        report.semantic = {"error": str(exc)}
        reporter().stage_end("semantic index", "embed", "failed", str(exc))
        return
    reporter().stage_end("semantic index", "embed", "done", f"{report.semantic['embedded']} new segments embedded")


def cancel(fut: Any) -> None:
    """Stop a download that has not started (a running one finishes or fails on its own)."""
    inner = getattr(fut, "wrapped_future", fut)  # a Prefect future wraps a concurrent one
    inner.cancel()


def run_batch(sources: list[str], settings: Settings, force: bool, steps: Steps) -> IngestReport:
    """Discover, then every video in one overlapped pass (module docstring); the semantic index once at the end.

    Arguments:
        sources: URLs, feeds, playlists or local paths.
        settings: The settings.
        force: Redo stages whose key is unchanged.
        steps: How the work is called.

    Returns:
        The batch's report.
    """
    settings.ensure_dirs()
    limit_malloc_arenas()  # before the lanes' threads start (a library or Prefect worker caller skips the CLI's)
    report = IngestReport()
    warmer = Warmer(settings, lane_stages("audio") + lane_stages("beside") + lane_stages("join"))
    try:
        with disk_full_as_error(settings), catalogue_for(settings) as store:
            work = sweep_and_discover(store, settings, sources, report, steps.discover)
    except DiskFullError as exc:
        report.stopped = str(exc)
        return report

    turns = PictureTurns()
    joins = JoinLane()
    landed: list[Future] = [Future() for _ in work]
    try:
        futures = [steps.submit_prepare(ref, settings, sid, force, landed[i], turns, i) for i, (ref, sid) in enumerate(work)]
        for i, ((ref, _sid), fut) in enumerate(zip(work, futures)):
            try:
                joins.check()
            except DiskFullError as exc:
                report.stopped = report.stopped or str(exc)
            _one_video(report, ref, fut, landed[i], settings, force, steps, turns, i, warmer, joins)
        try:
            joins.wait()
        except DiskFullError as exc:
            report.stopped = report.stopped or str(exc)
    finally:
        turns.close()  # a batch left by an unexpected error leaves no worker waiting for its turn
        joins.pool.shutdown(wait=True)
        warmer.join()
    if not report.stopped:
        update_semantic_index(settings, report, steps.embed)
    return report


def _one_video(report: IngestReport, ref: VideoRef, fut: Any, landed: Future, settings: Settings, force: bool,
               steps: Steps, turns: PictureTurns, index: int, warmer: Warmer | None = None,
               joins: JoinLane | None = None) -> None:
    vr = VideoReport(ref=fs_display(ref.url), title=ref.title)
    report.videos.append(vr)
    label = ref.title or vr.ref
    if report.stopped:
        vr.status, vr.error, vr.stages["fetch"] = "failed", "not attempted: the batch stopped (disk full)", "not-attempted"
        cancel(fut)
        turns.finish(index)
        return
    try:
        outcome = landed.result()
    except DiskFullError as exc:
        vr.status, vr.error, vr.stages["fetch"] = "failed", str(exc), "failed"
        report.stopped = str(exc)
        return
    except ClipwatchError as exc:
        vr.status = "unavailable" if exc.__class__.__name__ == "VideoUnavailable" else "failed"
        vr.error, vr.stages["fetch"] = str(exc), "failed"
        reporter().stage_end(label, "fetch", "failed", str(exc))
        with catalogue_for(settings) as store:
            store.add_event("failed", detail={"stage": "fetch", "url": ref.url, "error": str(exc)})
        return
    vr.video_id = outcome.video_id
    vr.stages["fetch"], vr.messages["fetch"] = outcome.status, outcome.message
    vr.seconds["fetch"] = round(outcome.seconds, 3)
    reporter().stage_end(label, "fetch", outcome.status, outcome.message)
    if warmer is not None and (outcome.status == "done" or force):
        warmer.start()
    try:
        overlapped_job(outcome.video_id, settings, vr, force, steps, fut.result, warmer, joins)
    except DiskFullError as exc:
        vr.status, vr.error = "failed", str(exc)
        report.stopped = str(exc)


def ingest(sources: list[str], settings: Settings | None = None, force: bool = False) -> IngestReport:
    """Ingest sources here, without Prefect: the same overlapped pass as ``flows.ingest.ingest_flow``, with no
    Prefect import and no temporary API server (what ``clipwatch ingest`` runs when no Prefect server is set).

    Arguments:
        sources: URLs, feeds, playlists or local paths.
        settings: The settings (from the environment by default).
        force: Redo stages whose key is unchanged.

    Returns:
        The batch's report.
    """
    settings = settings or Settings()
    with PlainSteps() as steps:
        return run_batch(sources, settings, force, steps)


def reprocess_videos(video_ids: list[str] | None, settings: Settings | None = None, force: bool = False,
                     steps: Steps | None = None) -> IngestReport:
    """Re-run the analysis stages of archived videos (nothing downloaded), one overlapped pass each; then the
    semantic index. Without ``force`` a stage runs only where its key changed.

    Arguments:
        video_ids: Ids (or unique prefixes); None for every archived video.
        settings: The settings (from the environment by default).
        force: Redo every stage.
        steps: How stages are called (plain calls by default; ``flows.reprocess`` passes Prefect tasks).

    Returns:
        The report.
    """
    settings = settings or Settings()
    steps = steps or PlainSteps(workers=1)
    with catalogue_for(settings) as store:
        ids = [store.get_video(v)["id"] for v in video_ids] if video_ids else [r["id"] for r in store.list_videos(10**9)]
        titles = {i: store.get_video(i)["title"] for i in ids}
    report = IngestReport()
    for vid in ids:
        vr = VideoReport(ref=vid, video_id=vid, title=titles[vid])
        report.videos.append(vr)
        analyse(vid, settings, vr, force, steps=steps)
    update_semantic_index(settings, report, steps.embed)
    return report
