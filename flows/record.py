"""Record a live channel and analyse each segment as it closes (issue 25).

The recorder (``pipeline.broadcast.recorder``) runs in the calling thread; a worker thread takes each closed segment
through the ingest entry point of a local file (``flows.batch.ingest`` over the segment's path — the pass
``clipwatch ingest`` runs without a Prefect server —, which the
``segment`` source archives with the stream's provenance), then records its air time (``stream_segments``) and a
chained ``recorded`` event (with a Prefect server, ``PREFECT_API_URL``, its sound stages go to the ``asr`` pool
instead: ``flows.segment_pool``). Gaps become ``gap`` events. The backlog — minutes of air closed but not yet analysed —
is written to ``<data>/record/<channel>/status.json`` for ``clipwatch status``; past ``shed_after`` seconds of
backlog the worker leaves out the optional stages (text on screen, semantic vectors) and says so in a ``shed`` event,
and takes them back once the backlog is under half of that.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from pipeline.broadcast.recorder import Gap, Recorder, RecordOptions, RecordSummary, iso_ms, parse_iso
from pipeline.broadcast.status import record_folder, waiting
from pipeline.config import Settings
from pipeline.domain import utcnow
from pipeline.errors import ClipwatchError, DiskFullError
from pipeline.sources.segment import SegmentFacts, sidecar_of
from pipeline.storage.base import catalogue_for
from pipeline.storage.files import atomic_write_json

from .batch import ingest as ingest_here
from .pools import api_url
from .segment_pool import analyse_on_pools

log = logging.getLogger(__name__)

# What is shed when the backlog grows: text on screen (OCR) and the semantic vectors; never the words (Whisper).
SHED_STAGES = ("ocr",)


@dataclass
class SegmentDone:
    seq: int
    video_id: str | None
    air_start: str
    air_end: str
    closed_at: float               # when the recorder closed it (epoch)
    searchable_at: float | None    # when its analysis ended and its air time was recorded
    status: str                    # ok | failed
    error: str | None = None
    shed: tuple[str, ...] = ()
    stages: dict[str, str] = field(default_factory=dict)

    @property
    def latency(self) -> float | None:
        """Seconds from the end of its air to searchable (the first minute of a segment waits its whole length)."""
        return None if self.searchable_at is None else self.searchable_at - parse_iso(self.air_end)


@dataclass
class RecordReport:
    channel: str
    summary: RecordSummary
    segments: list[SegmentDone] = field(default_factory=list)
    backlog: list[tuple[float, float]] = field(default_factory=list)   # (epoch, seconds of air waiting)

    def to_dict(self) -> dict[str, Any]:
        s = self.summary
        return {"channel": self.channel, "stream_url": s.stream_url, "mode": s.mode, "air_clock": s.clock,
                "segments": [{**{k: v for k, v in d.__dict__.items() if k != "closed_at"},
                              "latency_s": None if d.latency is None else round(d.latency, 2)} for d in self.segments],
                "recovered": s.recovered, "repeated_chunks": s.repeated, "gaps": [g.to_dict() for g in s.gaps],
                "max_backlog_s": round(max((b for _, b in self.backlog), default=0.0), 1)}


class Worker(threading.Thread):
    """Analyses closed segments in order, one at a time (Whisper takes every core), tracking the backlog."""

    def __init__(self, settings: Settings, folder: Path, shed_after: float, status: Callable[[], None],
                 on_failure: Callable[[], None] = lambda: None):
        super().__init__(name="clipwatch-record-worker", daemon=True)
        self.settings, self.folder, self.shed_after = settings, folder, shed_after
        self.q: queue.Queue[tuple[Path, SegmentFacts, float] | None] = queue.Queue()
        self.queued: set[Path] = set()
        self.waiting_air = 0.0          # seconds of air closed and not yet analysed (the current one included)
        self.current: str | None = None
        self.shedding: tuple[str, ...] = ()
        self.done: list[SegmentDone] = []
        self.backlog: list[tuple[float, float]] = []
        self.lock = threading.Lock()
        self.status = status
        self.on_failure = on_failure
        self.failed: BaseException | None = None

    def put(self, path: Path, facts: SegmentFacts) -> None:
        with self.lock:
            if path in self.queued:
                return
            self.queued.add(path)
            self.waiting_air += _air_seconds(facts)
            self.backlog.append((time.time(), self.waiting_air))
        self.q.put((path, facts, time.time()))
        self.status()

    def finish(self) -> None:
        self.q.put(None)

    def run(self) -> None:
        while True:
            item = self.q.get()
            if item is None:
                return
            path, facts, closed_at = item
            try:
                self._one(path, facts, closed_at)
            except BaseException as exc:  # noqa: BLE001 - a full disk or a crash: stop, the segment stays queued on disk
                log.exception("the analysis of segment %d stopped", facts.seq)
                self.failed = exc
                self.on_failure()  # recording on with nothing to analyse it would only pile segments up
                return

    def _one(self, path: Path, facts: SegmentFacts, closed_at: float) -> None:
        self._decide_shedding()
        run_settings = replace(self.settings, shed=self.shedding,
                               semantic=self.settings.semantic and "semantic" not in self.shedding)
        with self.lock:
            self.current = facts.air_start
        self.status()
        # with a Prefect server, the sound stages go to the asr pool like any batch; without one, all run here, in
        # the same overlapped pass `clipwatch ingest` runs (no Prefect temporary API started for a recorder)
        if api_url():
            report = analyse_on_pools(str(path), run_settings)
        else:
            report = ingest_here([str(path)], run_settings)
        if report.stopped:  # a full disk: stop here, the segment stays closed on disk for the next start
            raise DiskFullError(report.stopped)
        vr = report.videos[0] if report.videos else None
        done = SegmentDone(facts.seq, vr.video_id if vr else None, facts.air_start, facts.air_end, closed_at, None,
                           "failed", shed=self.shedding)
        if vr is not None and vr.video_id and vr.stages.get("fetch") in ("done", "skipped"):
            with catalogue_for(self.settings) as store:
                store.add_segment(vr.video_id, facts.channel, facts.stream_url, facts.seq, facts.air_start,
                                  facts.air_end, facts.air_clock)
                store.add_event("recorded", video_id=vr.video_id, detail={**facts.__dict__, "shed": list(self.shedding)})
            done.status, done.searchable_at, done.stages = "ok", time.time(), dict(vr.stages)
            path.unlink(missing_ok=True)  # archived: the original is in the blob store now
            sidecar_of(path).unlink(missing_ok=True)
        else:
            done.error = (vr.error if vr else None) or str(report.sources[0].get("error") if report.sources else "")
            failed = self.folder / "failed"  # kept, not retried for ever: `clipwatch ingest` takes it by hand
            failed.mkdir(exist_ok=True)
            os.replace(sidecar_of(path), failed / sidecar_of(path).name)
            os.replace(path, failed / path.name)
        with self.lock:
            self.waiting_air = max(0.0, self.waiting_air - _air_seconds(facts))
            self.current = None
            self.done.append(done)
            self.backlog.append((time.time(), self.waiting_air))
        self.status()

    def _decide_shedding(self) -> None:
        with self.lock:
            backlog = self.waiting_air
        if not self.shedding and backlog > self.shed_after:
            self.shedding = SHED_STAGES + (("semantic",) if self.settings.semantic else ())
            why = f"backlog {backlog / 60:.1f} min of air > {self.shed_after / 60:.1f} min"
        elif self.shedding and backlog < self.shed_after / 2:
            self.shedding, why = (), f"backlog {backlog / 60:.1f} min of air: caught up"
        else:
            return
        log.warning("recorder: %s; shedding %s", why, ", ".join(self.shedding) or "nothing")
        with catalogue_for(self.settings) as store:
            store.add_event("shed", detail={"channel": self.folder.name, "stages": list(self.shedding),
                                            "backlog_seconds": round(backlog, 1), "reason": why})


def _air_seconds(facts: SegmentFacts) -> float:
    return max(0.0, parse_iso(facts.air_end) - parse_iso(facts.air_start))


def record(url: str, settings: Settings, channel: str, *, segment_seconds: float = 600.0,
           for_seconds: float | None = None, shed_after: float | None = None, no_signal_timeout: float = 120.0,
           stop: threading.Event | None = None) -> RecordReport:
    """Record ``url`` as ``channel`` and analyse every segment; returns once recording stopped and the backlog is
    analysed.

    Arguments:
        url: the stream (HLS, MPEG-TS, RTMP/RTSP/UDP, or a page with a live stream yt-dlp can read).
        settings: the archive and the stages' settings.
        channel: the channel's id in the archive.
        segment_seconds: segment length (cut on the keyframe at or after it).
        for_seconds: stop recording after this long (None: until ``stop`` is set).
        shed_after: seconds of air waiting for analysis past which optional stages are shed (default: twice the
            segment length, at least 5 minutes).
        no_signal_timeout: give up on a stream that never starts after this long.
        stop: set it to stop recording (the CLI sets it on SIGINT/SIGTERM).

    Returns:
        What was recorded and analysed, the gaps, and the backlog over time.
    """
    settings.ensure_dirs()
    folder = record_folder(settings.data_dir, channel)
    opts = RecordOptions(url=url, channel=channel, folder=folder, segment_seconds=segment_seconds,
                         for_seconds=for_seconds, no_signal_timeout=no_signal_timeout)
    stop = stop or threading.Event()
    started = utcnow()
    holder: dict[str, Any] = {}

    def write_status(state: str | None = None) -> None:
        if state is not None:
            holder["state"] = state
        state = holder.get("state", "recording")
        w: Worker | None = holder.get("worker")
        rec: Recorder | None = holder.get("recorder")
        if w is None or rec is None:
            return
        with w.lock:
            body = {"channel": channel, "url": url, "stream_url": rec.stream_url, "pid": os.getpid(), "state": state,
                    "started_at": started, "updated_at": utcnow(), "air_clock": rec.summary.clock,
                    "backlog_seconds": round(w.waiting_air, 1), "waiting_segments": w.q.qsize(),
                    "analysing": w.current, "shed": list(w.shedding), "segments_recorded": rec.summary.segments,
                    "segments_analysed": sum(1 for d in w.done if d.status == "ok"),
                    "segments_failed": sum(1 for d in w.done if d.status != "ok"),
                    "gaps": len(rec.summary.gaps), "last_air_end": rec.st.last_end and iso_ms(rec.st.last_end)}
        atomic_write_json(folder / "status.json", body)

    worker = Worker(settings, folder, shed_after if shed_after is not None else max(300.0, 2 * segment_seconds),
                    lambda: write_status(), on_failure=stop.set)
    holder["worker"] = worker

    def on_gap(gap: Gap) -> None:
        with catalogue_for(settings) as store:
            store.add_event("gap", detail=gap.to_dict())
        write_status()

    recorder = Recorder(opts, worker.put, on_gap, stop)
    holder["recorder"] = recorder
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in waiting(folder):  # closed by an earlier run, never archived
        worker.put(leftover, SegmentFacts.read(leftover))
    worker.start()
    try:
        summary = recorder.run()
    finally:
        worker.finish()
        write_status("analysing")
        while worker.is_alive():
            worker.join(1.0)
        write_status("stopped")
    if worker.failed is not None:
        if isinstance(worker.failed, ClipwatchError):
            raise worker.failed
        raise ClipwatchError(f"the analysis of recorded segments stopped: {worker.failed}")
    return RecordReport(channel, summary, worker.done, worker.backlog)
