"""Prefect at scale: deployments in work pools, workers, and an ingest that fans videos out to them.

With a Prefect server (``PREFECT_API_URL``), ``clipwatch deploy`` registers (``register``):

* ``ingest-video/clipwatch-download`` in the ``download`` pool: one flow run per video — the download (under the
  global and per-site download concurrency limits) and then, unless the ``media`` pool has a worker online, the
  stages that read only pictures (shots and keyframes, text on screen);
* ``media-stages/clipwatch-media`` in the ``media`` pool: those picture stages for a batch of videos;
* ``asr-batch/clipwatch-asr`` in the ``asr`` pool: audio profile, Whisper, tags for a batch of videos in one flow
  run, so the Whisper model is loaded once per batch (the engine cache of ``pipeline.asr.base`` lives as long as the
  flow run's process) rather than once per video;
* ``monitor/clipwatch-monitor`` in the ``download`` pool on a cron schedule.

Deployments name their flows by module path (``flows.pools.ingest_video_flow``): a worker imports them from the
installed clipwatch package — nothing is pulled, no image is built. Each worker's machine reads its own
``CLIPWATCH_*`` settings (database, object store, model, device); a flow run's parameters carry only the video and the
options the user gave on the command line.

``fan_out_ingest`` (``clipwatch ingest`` with ``PREFECT_API_URL`` set) discovers the sources here, starts one
``ingest-video`` run per video with ``run_deployment(timeout=0)``, polls them, re-runs a run that crashed (its
process was killed: a worker died) and, as downloads finish, hands their videos on in batches to ``media-stages``
(when the ``media`` pool has a worker) and ``asr-batch`` (copies, audio profile, transcript, tags). Each flow run
leaves a table artifact with its videos' reports, which the fan-out reads back; nothing depends on result storage
shared between machines.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, cast
from urllib.parse import urlsplit

from prefect import flow
from prefect.states import Completed, Failed

from pipeline.config import Settings, env_int
from pipeline.errors import ClipwatchError, ConfigError
from pipeline.preservation.sweep import sweep_incoming
from pipeline.sources.discovery import VideoRef, discover
from pipeline.storage.base import blob_store_for, catalogue_for
from pipeline.storage.files import fs_display

from .ingest import (
    IngestReport,
    VideoReport,
    fetch_task,
    record_stage,
    run_pool_stages,
    sweep_and_discover,
    update_semantic_index,
)
from .monitor import DEFAULT_CRON, monitor_flow
from .progress import reporter

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments.runner import RunnerDeployment

log = logging.getLogger(__name__)

POOLS: dict[str, str] = {
    "download": "downloads (rate-limited per site) and, without a media worker, the picture stages",
    "media": "decoding, shots, keyframes, text on screen",
    "asr": "audio profile, Whisper, tags (GPU machines; the model stays loaded for a batch)",
    "record": "live recorders: one long-lived flow run per channel (flows.record_deploy)",
}
INGEST_DEPLOYMENT = "ingest-video/clipwatch-download"
MEDIA_DEPLOYMENT = "media-stages/clipwatch-media"
ASR_DEPLOYMENT = "asr-batch/clipwatch-asr"
MONITOR_DEPLOYMENT = "monitor/clipwatch-monitor"
DOWNLOAD_LIMIT = "clipwatch-download"
LEASE_SECONDS = 60  # a killed flow run's download slot comes back after this (live holders renew their lease)
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def site_limit(url: str) -> str:
    """The name of the per-site download limit for a video URL: one per host name."""
    return f"{DOWNLOAD_LIMIT}:{(urlsplit(url).hostname or 'local').lower()}"


def _count(name: str, default: int) -> int:
    """A limit of 1 or more from the environment (``pipeline.config.env_int``)."""
    return env_int(name, default, 1) or default


@dataclass(frozen=True)
class ScaleLimits:
    """How much runs at once across all workers (Prefect global concurrency limits) and how big an ASR batch is."""

    downloads: int = field(default_factory=lambda: _count("CLIPWATCH_DOWNLOADS", 4))
    downloads_per_site: int = field(default_factory=lambda: _count("CLIPWATCH_DOWNLOADS_PER_SITE", 2))
    asr_batch: int = field(default_factory=lambda: _count("CLIPWATCH_ASR_BATCH", 16))
    crash_retries: int = 2  # re-runs of a flow run whose process died (a worker killed, a machine lost)


# -- the flows the workers run ------------------------------------------------------------------------------------


def _worker_settings(options: dict[str, Any] | None) -> Settings:
    settings = Settings(**(options or {}))
    settings.ensure_dirs()
    return settings


def _publish(reports: list[VideoReport], what: str) -> None:
    """Leave the reports where the fan-out (and Prefect's UI) can read them: a table artifact of this flow run."""
    from prefect.artifacts import create_table_artifact

    create_table_artifact([asdict(r) for r in reports], description=f"clipwatch {what}: {len(reports)} video(s)")


def _final(reports: list[VideoReport]):
    failed = [r for r in reports if r.status != "ok"]
    if not failed:
        return Completed(message=f"{len(reports)} video(s) ok")
    return Failed(message="; ".join(f"{r.video_id or r.ref}: {r.error}" for r in failed)[:2000])


@flow(name="ingest-video", log_prints=False)
def ingest_video_flow(url: str, source_url: str | None = None, title: str | None = None, source_id: int | None = None,
                      force: bool = False, media: bool = True, options: dict[str, Any] | None = None):
    """Download one video (global and per-site download slots held meanwhile), then its picture stages."""
    from prefect.concurrency.sync import concurrency

    settings = _worker_settings(options)
    for left in sweep_incoming(blob_store_for(settings).root):  # a fetch of this machine's that was killed
        log.warning("swept a temporary file left by an interrupted run: %s", left)
    report = VideoReport(ref=fs_display(url), title=title)
    ref = VideoRef(url=url, source_url=source_url or url, title=title)
    try:
        with concurrency([DOWNLOAD_LIMIT, site_limit(url)], occupy=1, lease_duration=LEASE_SECONDS):
            outcome = fetch_task(ref, settings, source_id)
    except ClipwatchError as exc:
        report.status = "unavailable" if exc.__class__.__name__ == "VideoUnavailable" else "failed"
        report.error, report.stages["fetch"] = str(exc), "failed"
        with catalogue_for(settings) as store:
            store.add_event("failed", detail={"stage": "fetch", "url": url, "error": str(exc)})
    else:
        report.video_id = outcome.video_id
        report.stages["fetch"], report.messages["fetch"] = outcome.status, outcome.message
        report.seconds["fetch"] = round(outcome.seconds, 3)
        if media:
            for name, (done, error) in run_pool_stages(outcome.video_id, settings, "media", force).items():
                record_stage(report, outcome.video_id, name, done, error, settings)
    _publish([report], "ingest-video")
    return _final([report])


def _batch(video_ids: list[str], pool: str, force: bool, options: dict[str, Any] | None, what: str):
    settings = _worker_settings(options)
    reports = []
    for vid in video_ids:
        report = VideoReport(ref=vid, video_id=vid)
        for name, (done, error) in run_pool_stages(vid, settings, pool, force).items():
            record_stage(report, vid, name, done, error, settings)
        reports.append(report)
    _publish(reports, what)
    return _final(reports)


@flow(name="media-stages", log_prints=False)
def media_batch_flow(video_ids: list[str], force: bool = False, options: dict[str, Any] | None = None):
    """The picture stages (shots and keyframes, text on screen) of already downloaded videos."""
    return _batch(video_ids, "media", force, options, "media-stages")


@flow(name="asr-batch", log_prints=False)
def asr_batch_flow(video_ids: list[str], force: bool = False, options: dict[str, Any] | None = None):
    """Copies, audio profile, transcript and tags of a batch of videos: one process, one loaded Whisper model."""
    return _batch(video_ids, "asr", force, options, "asr-batch")


# -- talking to the server -------------------------------------------------------------------------------------------


def api_url() -> str | None:
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def check_server(url: str | None = None, timeout: float = 10.0) -> str:
    """The Prefect server's URL once it answers its health check; ClipwatchError with what to check otherwise."""
    import httpx

    url = url or api_url()
    if not url:
        raise ConfigError("PREFECT_API_URL is not set; point it at a Prefect server (e.g. "
                          "PREFECT_API_URL=http://prefect.example:4200/api) — without it clipwatch runs in this "
                          "process")
    try:
        resp = httpx.get(url.rstrip("/") + "/health", timeout=timeout)
        resp.raise_for_status()
    except (httpx.HTTPError, OSError) as exc:
        raise ClipwatchError(f"the Prefect server at {url} does not answer ({exc.__class__.__name__}: {exc}); check "
                             "that `prefect server start` runs there and that PREFECT_API_URL is right, or unset "
                             "PREFECT_API_URL to run everything in this process") from exc
    return url


def prefect_client():
    """Prefect's client for the configured API (a context manager); Prefect is imported here, when first needed."""
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def ensure_pools(client) -> list[str]:
    """Create the work pools (type ``process``) that do not exist; returns the names created."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    created = []
    for name, role in POOLS.items():
        try:
            client.read_work_pool(name)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=name, type="process", description=f"clipwatch: {role}",
                                                   base_job_template=ProcessWorker.get_default_base_job_template()))
            created.append(name)
    return created


def ensure_limit(client, name: str, limit: int, *, update: bool) -> int:
    """A global concurrency limit: created when missing; ``update`` also sets an existing one. Returns its limit."""
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    try:
        current = client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        try:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))
        except ObjectAlreadyExists:  # another ingest made it meanwhile
            pass
        return limit
    if update and current.limit != limit:
        client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(limit=limit))
        return limit
    return current.limit


@dataclass
class Registered:
    pools_created: list[str]
    deployments: dict[str, str]  # "flow/deployment" -> work pool
    download_limit: int
    monitor_cron: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def register(cron: str | None = None, limits: ScaleLimits | None = None) -> Registered:
    """``clipwatch deploy``: pools, the global download limit, and the deployments (re-running updates them)."""
    from prefect.types.entrypoint import EntrypointType

    limits = limits or ScaleLimits()
    cron = cron or DEFAULT_CRON
    check_server()
    module = EntrypointType.MODULE_PATH  # imported from the installed package on the worker: no pull, no image
    plan = [
        (ingest_video_flow.to_deployment("clipwatch-download", entrypoint_type=module,
                                         description="Download one video, then its picture stages."), "download"),
        (media_batch_flow.to_deployment("clipwatch-media", entrypoint_type=module,
                                        description="Shots, keyframes, text on screen for a batch."), "media"),
        (asr_batch_flow.to_deployment("clipwatch-asr", entrypoint_type=module,
                                      description="Audio profile, Whisper, tags for a batch; one model load."),
         "asr"),
        (monitor_flow.to_deployment("clipwatch-monitor", entrypoint_type=module, cron=cron,
                                    description="Re-list watched sources, ingest new videos, re-check archived ones."),
         "download"),
    ]
    with prefect_client() as client:
        created = ensure_pools(client)
        download_limit = ensure_limit(client, DOWNLOAD_LIMIT, limits.downloads, update=True)
    deployments = {}
    for entry, pool in plan:
        # called from sync code, Prefect's async_dispatch returns the deployment itself (typed "or a coroutine")
        deployment = cast("RunnerDeployment", entry)
        deployment.apply(work_pool_name=pool)
        deployments[f"{deployment.flow_name}/{deployment.name}"] = pool
    return Registered(created, deployments, download_limit, cron)


def online_workers(client, pool: str) -> int:
    from prefect.client.schemas.filters import WorkerFilter, WorkerFilterStatus
    from prefect.exceptions import ObjectNotFound

    try:
        return len(client.read_workers_for_work_pool(
            pool, worker_filter=WorkerFilter(status=WorkerFilterStatus(any_=["ONLINE"]))))
    except ObjectNotFound:
        return 0


# -- the fan-out ---------------------------------------------------------------------------------------------------


@dataclass
class PoolRun:
    """One unit of work: the flow run now carrying it, and how many times it was started."""

    phase: str  # download | media | asr
    deployment: str
    parameters: dict[str, Any]
    label: str
    video_ids: list[str] = field(default_factory=list)  # media/asr: the batch
    flow_run_id: Any = None
    attempts: int = 0
    state: str = "SCHEDULED"
    message: str = ""
    collected: bool = False


@dataclass
class FanOutStats:
    runs: dict[str, int] = field(default_factory=dict)       # phase -> flow runs started (re-runs included)
    crashed_reruns: int = 0
    seconds: float = 0.0


Progress = Callable[[str], None]


def start_run(run: PoolRun, stats: FanOutStats) -> None:
    """Start ``run``'s deployment with its parameters, without waiting, and count the start in ``stats``."""
    from prefect.deployments import run_deployment

    # called from sync code, Prefect's async_dispatch returns the flow run itself (typed "or a coroutine")
    fr = cast("FlowRun", run_deployment(run.deployment, parameters=run.parameters, timeout=0, as_subflow=False,
                                        flow_run_name=run.label[:100]))
    run.flow_run_id, run.state, run.attempts = fr.id, "SCHEDULED", run.attempts + 1
    stats.runs[run.phase] = stats.runs.get(run.phase, 0) + 1


def poll_runs(client, runs: list[PoolRun], limits: ScaleLimits, stats: FanOutStats) -> None:
    """Bring the runs' states up to date; a crashed one (its process died) is started again, up to crash_retries."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    ids = [r.flow_run_id for r in runs if r.state not in FINAL]
    if not ids:
        return
    states = {fr.id: fr.state for fr in client.read_flow_runs(
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=len(ids))}
    for run in runs:
        state = states.get(run.flow_run_id)
        if state is None:
            continue
        run.state, run.message = state.type.value, state.message or ""
        if run.state == "CRASHED" and run.attempts <= limits.crash_retries:
            log.warning("%s crashed (%s); starting it again", run.label, run.message)
            stats.crashed_reruns += 1
            start_run(run, stats)


def collect_reports(client, runs: list[PoolRun]) -> dict[Any, list[VideoReport]]:
    """Each finished flow run's video reports (its table artifact)."""

    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    ids = [r.flow_run_id for r in runs if r.flow_run_id]
    out: dict[Any, list[VideoReport]] = {}
    if not ids:
        return out
    for art in client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids))):
        data = json.loads(art.data) if isinstance(art.data, str) else art.data
        out[art.flow_run_id] = [VideoReport(**row) for row in data]
    return out


def check_deployments(client, names: list[str]) -> None:
    """Raise a one-line error naming the command that registers them when any of the deployments is missing."""
    from prefect.exceptions import ObjectNotFound

    for name in names:
        try:
            client.read_deployment_by_name(name)
        except ObjectNotFound:
            raise ConfigError(f"the Prefect server has no deployment {name}; run `clipwatch deploy` once (with the "
                              "same PREFECT_API_URL), then start workers with `clipwatch worker --pool …`") from None


def _discover(sources: list[str], settings: Settings, report: IngestReport) -> list[tuple[VideoRef, int | None]]:
    with catalogue_for(settings) as store:
        work = sweep_and_discover(store, settings, sources, report, discover)
    if any(ref.is_local for ref, _ in work):
        raise ConfigError("local files cannot be handed to workers on other machines; ingest them without "
                          "PREFECT_API_URL (in this process), or publish them at a URL the workers can reach")
    return work


def fan_out_ingest(sources: list[str], settings: Settings, force: bool = False, options: dict[str, Any] | None = None,
                   limits: ScaleLimits | None = None, progress: Progress | None = None,
                   stats: FanOutStats | None = None, poll_seconds: float = 1.0) -> IngestReport:
    """``clipwatch ingest`` on a Prefect server: discover here; download, media and ASR on the pools' workers.

    Every video's download run is created at once (the workers' limits and the download concurrency limits decide
    what runs); as downloads finish, their videos go on in batches of ``asr_batch`` to the media pool (when it has a
    worker online) and then the asr pool, so transcription starts while later videos are still downloading.
    """
    limits = limits or ScaleLimits()
    progress = progress or (lambda line: log.info("%s", line))
    stats = stats if stats is not None else FanOutStats()
    options = dict(options or {})
    check_server()
    settings.ensure_dirs()
    report = IngestReport()
    work = _discover(sources, settings, report)
    t0 = time.perf_counter()
    with prefect_client() as client:
        check_deployments(client, [INGEST_DEPLOYMENT, ASR_DEPLOYMENT])
        for host_limit in sorted({site_limit(ref.url) for ref, _ in work}):
            ensure_limit(client, host_limit, limits.downloads_per_site, update=False)
        media_pool = online_workers(client, "media") > 0
        if media_pool:
            check_deployments(client, [MEDIA_DEPLOYMENT])
        phases = (["media"] if media_pool else []) + ["asr"]
        deployment = {"media": MEDIA_DEPLOYMENT, "asr": ASR_DEPLOYMENT}
        runs: list[PoolRun] = []
        ref_of: dict[int, VideoRef] = {}
        for ref, sid in work:
            run = PoolRun("download", INGEST_DEPLOYMENT, {"url": ref.url, "source_url": ref.source_url, "title": ref.title,
                                                       "source_id": sid, "force": force, "media": not media_pool,
                                                       "options": options}, ref.title or ref.url)
            start_run(run, stats)
            runs.append(run)
            ref_of[id(run)] = ref
        by_id: dict[str, VideoReport] = {}
        queued: dict[str, list[str]] = {phase: [] for phase in phases}
        last = ""
        while True:
            poll_runs(client, runs, limits, stats)
            newly = [r for r in runs if r.state in FINAL and not r.collected and
                     not (r.state == "CRASHED" and r.attempts <= limits.crash_retries)]
            found = collect_reports(client, newly)
            for run in newly:
                run.collected = True
                if run.phase == "download":
                    got = found.get(run.flow_run_id)
                    ref = ref_of[id(run)]
                    vr = got[0] if got else VideoReport(ref=fs_display(ref.url), title=ref.title, status="failed",
                                                        error=f"flow run {run.state.lower()}: {run.message}",
                                                        stages={"fetch": "failed"})
                    report.videos.append(vr)
                    reporter().stage_end(vr.title or vr.ref, "fetch", vr.stages.get("fetch", "failed"),
                                         vr.messages.get("fetch") or vr.error or "")
                    if vr.video_id and vr.stages.get("fetch") in ("done", "skipped"):
                        by_id[vr.video_id] = vr
                        queued[phases[0]].append(vr.video_id)
                    continue
                got_by_id = {r.video_id: r for r in found.get(run.flow_run_id, [])}
                following = phases[phases.index(run.phase) + 1:]
                for vid in run.video_ids:
                    merge_report(by_id[vid], got_by_id.get(vid), f"{run.phase} flow run {run.state.lower()}: {run.message}")
                    if following and got_by_id.get(vid) is not None:
                        queued[following[0]].append(vid)
            for i, phase in enumerate(phases):
                upstream = ["download", *phases[:i]]
                upstream_busy = any(r.phase in upstream and not r.collected for r in runs)
                while queued[phase] and (len(queued[phase]) >= limits.asr_batch or not upstream_busy):
                    batch, queued[phase] = queued[phase][:limits.asr_batch], queued[phase][limits.asr_batch:]
                    run = PoolRun(phase, deployment[phase], {"video_ids": batch, "force": force, "options": options},
                               f"{phase} {batch[0]}" + (f" +{len(batch) - 1}" if len(batch) > 1 else ""), batch)
                    start_run(run, stats)
                    runs.append(run)
            if all(r.collected for r in runs) and not any(queued.values()):
                break
            line = _progress_line(runs)
            if line != last:
                progress(line)
                last = line
            time.sleep(poll_seconds)
    stats.seconds = time.perf_counter() - t0
    order = {fs_display(ref.url): i for i, (ref, _sid) in enumerate(work)}
    report.videos.sort(key=lambda v: order.get(v.ref, len(order)))
    update_semantic_index(settings, report)
    return report


def _progress_line(runs: list[PoolRun]) -> str:
    parts = []
    for phase in ("download", "media", "asr"):
        mine = [r for r in runs if r.phase == phase]
        if not mine:
            continue
        done = sum(r.collected for r in mine)
        running = sum(r.state == "RUNNING" for r in mine)
        parts.append(f"{phase} {done}/{len(mine)} done, {running} running")
    return "ingest: " + "; ".join(parts)


def merge_report(into: VideoReport, part: VideoReport | None, lost: str) -> None:
    """Fold a pool run's report of one video into ``into``; with no report, the video failed with ``lost``."""
    if part is None:  # the batch's run ended without a report (crashed every time, cancelled)
        into.status, into.error = "failed", lost
        return
    into.stages.update(part.stages)
    into.messages.update(part.messages)
    into.seconds.update(part.seconds)
    if part.status != "ok" and into.status == "ok":
        into.status, into.error = part.status, part.error
