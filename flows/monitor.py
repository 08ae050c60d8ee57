"""The monitor flow: re-list watched sources, ingest what is new, re-check the videos that are due.

New videos are fetched at once (capture before takedown) with the ingest flow's
own tasks — the same retries, download concurrency tag and per-stage caching —
then analysed unless ``analyse=False``. Each due video is then asked about
(metadata only) by ``pipeline.preservation.monitor.check_video``, which applies the removal
rules (two failed checks at least an hour apart, site reachable; transient
errors never count).

Run it once with ``clipwatch monitor run``; schedule it with
``clipwatch monitor serve --cron "0 */6 * * *"`` (``monitor_flow.serve``), or
build a deployment with ``monitor_deployment`` for a Prefect work pool.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from pipeline.config import Settings
from pipeline.errors import ClipwatchError
from pipeline.preservation import monitor
from pipeline.sources.discovery import VideoRef
from pipeline.storage.base import blob_store_for, catalogue_for

from .ingest import VideoReport, analyse, fetch_task
from .progress import reporter

log = logging.getLogger(__name__)

DEFAULT_CRON = "0 */6 * * *"
DEPLOYMENT_NAME = "clipwatch-monitor"


@dataclass
class MonitorReport:
    sources: list[dict[str, Any]] = field(default_factory=list)   # SourceListing.to_dict()
    ingested: list[VideoReport] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)    # CheckResult.to_dict()

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.checks:
            out[c["outcome"]] = out.get(c["outcome"], 0) + 1
        return out

    @property
    def failed(self) -> int:
        return sum(1 for v in self.ingested if v.status != "ok") + sum(1 for c in self.checks if c["outcome"] == "error")

    def to_dict(self) -> dict[str, Any]:
        return {"sources": self.sources, "ingested": [asdict(v) for v in self.ingested], "checks": self.checks,
                "counts": self.counts(), "failed": self.failed}


def settings_for(data_dir: str | None) -> Settings:
    """The settings of the archive at ``data_dir``, or the default archive's when None."""
    return Settings(data_dir=Path(data_dir)) if data_dir else Settings()


@task(name="relist-sources", cache_policy=NO_CACHE)
def relist_task(settings: Settings, now: datetime | None, confirm_after: timedelta) -> list[monitor.SourceListing]:
    with catalogue_for(settings) as store:  # clipwatch.db, or PostgreSQL (CLIPWATCH_DATABASE_URL)
        return monitor.relist_sources(store, now=now, confirm_after=confirm_after)


@task(name="check-video", cache_policy=NO_CACHE, tags=["clipwatch-check"])
def check_task(video_id: str, settings: Settings, now: datetime | None) -> monitor.Observation:
    # Asks the platform only: the round's observations are recorded together, host by host (apply_task).
    with catalogue_for(settings) as store:
        return monitor.observe_video(store, video_id, now=now)


@task(name="record-checks", cache_policy=NO_CACHE)
def apply_task(observations: list[monitor.Observation], settings: Settings, now: datetime | None,
               confirm_after: timedelta) -> list[monitor.CheckResult]:
    # the archive folder, or the object store (CLIPWATCH_STORAGE_URL): a changed info.json goes where the media are
    with catalogue_for(settings) as store:
        observations = observations + monitor.witnesses(store, observations, now=now)
        return monitor.apply_round(store, blob_store_for(settings), observations, now=now, confirm_after=confirm_after)


def ingest_new(work: Sequence[tuple[VideoRef, int | None]], settings: Settings, analyse_new: bool) -> list[VideoReport]:
    """Archive new uploads at once with the ingest flow's own tasks (inside a flow run): fetched concurrently, then
    analysed unless ``analyse_new`` is False. A fetch that fails is a ``failed`` event, not the end of the round.

    Arguments: work — (the upload, its watched source's id); settings — the archive; analyse_new — run the stages.
    Returns: one ``VideoReport`` per upload.
    """
    out = []
    futures = [fetch_task.submit(ref, settings, sid) for ref, sid in work]
    for (ref, _sid), fut in zip(work, futures):
        vr = VideoReport(ref=ref.url, title=ref.title)
        out.append(vr)
        try:
            outcome = fut.result()
        except ClipwatchError as exc:
            vr.status = "unavailable" if exc.__class__.__name__ == "VideoUnavailable" else "failed"
            vr.error, vr.stages["fetch"] = str(exc), "failed"
            reporter().stage_end(ref.title or ref.url, "fetch", "failed", str(exc))
            with catalogue_for(settings) as store:
                store.add_event("failed", detail={"stage": "fetch", "url": ref.url, "error": str(exc), "by": "monitor"})
            continue
        vr.video_id = outcome.video_id
        vr.stages["fetch"], vr.messages["fetch"] = outcome.status, outcome.message
        reporter().stage_end(ref.title or ref.url, "fetch", outcome.status, outcome.message)
        if analyse_new:
            analyse(outcome.video_id, settings, vr)
    return out


@flow(name="monitor", log_prints=False)
def monitor_flow(data_dir: str | None = None, relist: bool = True, check: bool = True, analyse_new: bool = True,
                 check_all: bool = False, limit: int | None = None, now: datetime | None = None,
                 confirm_after_minutes: float = 60.0) -> MonitorReport:
    """One monitoring round. ``check_all`` ignores the schedule; ``now`` moves the clock (tests)."""
    settings = settings_for(data_dir)
    settings.ensure_dirs()
    confirm_after = timedelta(minutes=confirm_after_minutes)
    schedule = monitor.Schedule(confirm_after=confirm_after)
    report = MonitorReport()

    if relist:
        listings = relist_task(settings, now, confirm_after)
        report.sources = [lst.to_dict() for lst in listings]
        work = [(ref, lst.source_id) for lst in listings for ref in lst.new]
        for lst in listings:
            reporter().discovered(lst.url, len(lst.new), f"{lst.outcome}, {lst.listed} listed, {len(lst.new)} new")
        report.ingested += ingest_new(work, settings, analyse_new)

    if check:
        fresh = {v.video_id for v in report.ingested if v.video_id}
        with catalogue_for(settings) as store:
            if check_all:
                ids = store.checkable_video_ids()
            else:
                ids = monitor.due_videos(store, now, schedule, limit)
        ids = [i for i in ids if i not in fresh]
        if limit is not None:
            ids = ids[:limit]
        checks = [check_task.submit(vid, settings, now) for vid in ids]
        observed: list[monitor.Observation] = []
        for vid, checked in zip(ids, checks):
            reporter().stage_start(vid, "check")
            try:
                observed.append(checked.result())
            except ClipwatchError as exc:
                report.checks.append({"video_id": vid, "outcome": "error", "message": str(exc)})
                reporter().stage_end(vid, "check", "failed", str(exc))
        for res in apply_task(observed, settings, now, confirm_after) if observed else []:
            report.checks.append(res.to_dict())
            reporter().stage_end(res.video_id, "check", res.outcome, res.message)
    return report


def monitor_deployment(cron: str = DEFAULT_CRON, data_dir: str | None = None, name: str = DEPLOYMENT_NAME, **params: Any):
    """A Prefect deployment of ``monitor_flow`` on a cron schedule (for ``prefect.serve`` or a work pool)."""
    parameters = {"data_dir": str(settings_for(data_dir).data_dir), **params}
    return monitor_flow.to_deployment(name=name, cron=cron, parameters=parameters,
                                      description="Re-list watched sources, ingest new videos, re-check archived ones.")


def next_run_times(cron: str, after: datetime, count: int = 1) -> list[datetime]:
    """The next ``count`` times (UTC) a cron expression fires after ``after``; ValueError for a bad expression."""
    from cronsim import CronSim, CronSimError

    try:
        it = CronSim(cron, after.astimezone(timezone.utc))
        return [next(it) for _ in range(count)]
    except (CronSimError, StopIteration) as exc:
        raise ValueError(f"bad cron expression {cron!r}: {exc}") from exc


def run_on_schedule(cron: str, run: Callable[[], Any], *, max_runs: int | None = None,
                    sleep: Callable[[float], None] = time.sleep,
                    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> int:
    """Call ``run`` at every time the cron expression fires (in this process); returns the number of runs."""
    next_run_times(cron, clock())  # fail early on a bad expression
    runs = 0
    while max_runs is None or runs < max_runs:
        now = clock()
        at = next_run_times(cron, now)[0]
        sleep(max(0.0, (at - now).total_seconds()))
        try:
            run()
        except Exception:  # one bad round must not stop the schedule
            log.exception("monitor round failed")
        runs += 1
    return runs


def prefect_api_url() -> str | None:
    """The Prefect server this process talks to (env or profile), or None for Prefect's temporary local one."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def serve_monitor(cron: str = DEFAULT_CRON, data_dir: str | None = None, name: str = DEPLOYMENT_NAME, **params: Any) -> None:
    """Run the monitor flow on its cron schedule until interrupted.

    With a Prefect server (``PREFECT_API_URL`` set) this serves a real deployment
    (``prefect.serve``): its runs, schedule and logs show in Prefect's UI, and
    ``prefect deployment run monitor/clipwatch-monitor`` triggers one by hand.
    Prefect's temporary local server does not run the scheduler that turns a
    cron schedule into runs, so without ``PREFECT_API_URL`` the schedule is
    kept by this process instead, each round still a Prefect flow run.
    """
    if prefect_api_url():
        from prefect import serve

        serve(monitor_deployment(cron, data_dir, name, **params))
        return
    data_dir = str(settings_for(data_dir).data_dir)
    run_on_schedule(cron, lambda: monitor_flow(data_dir=data_dir, **params))
