"""A recorded segment's analysis on the work pools (issue 25: "with a Prefect server, segments go to the ``asr`` pool
like any batch").

The segment is a file on the recorder's machine, so it is archived here (the ``segment`` source, as
``ingest_flow`` would) and its picture stages (keyframes, text on screen) run here too: the file is at hand and they
are light beside Whisper. The sound stages (copies, audio profile, transcript, tags) go to the deployment a batch
ingest uses for the ``asr`` pool (``flows.pools.ASR_DEPLOYMENT``), one flow run per segment, started and followed
with the fan-out's own helpers (a run whose process died is started again). The caller waits for it, so the
recorder's backlog still counts the segment until its words are searchable.
"""

from __future__ import annotations

import logging
import time

from pipeline.config import Settings
from pipeline.errors import ClipwatchError, DiskFullError
from pipeline.sources.discovery import discover
from pipeline.storage.base import catalogue_for

from .ingest import (
    IngestReport,
    VideoReport,
    fetch_task,
    record_stage,
    run_pool_stages,
    sweep_and_discover,
    update_semantic_index,
)
from .pools import (
    ASR_DEPLOYMENT,
    FINAL,
    FanOutStats,
    PoolRun,
    ScaleLimits,
    check_deployments,
    collect_reports,
    merge_report,
    poll_runs,
    prefect_client,
    start_run,
)

log = logging.getLogger(__name__)


def analyse_on_pools(path: str, settings: Settings, poll_seconds: float = 1.0,
                     limits: ScaleLimits | None = None) -> IngestReport:
    """Archive one closed segment here, run its picture stages here and its sound stages on the ``asr`` pool.

    Arguments:
        path: the closed segment's file (its sidecar beside it says the stream and the air time).
        settings: this machine's settings (the shed stages included); the asr worker reads its own.
        poll_seconds: how often the asr flow run's state is read.
        limits: how many times a crashed asr flow run is started again.

    Returns:
        An ingest report of the one segment, shaped as ``ingest_flow``'s (``stopped`` set on a full disk).
    """
    limits = limits or ScaleLimits()
    report = IngestReport()
    with catalogue_for(settings) as store:
        work = sweep_and_discover(store, settings, [path], report, discover)
    if not work:
        return report
    ref, source_id = work[0]
    vr = VideoReport(ref=ref.url, title=ref.title)
    report.videos.append(vr)
    try:
        outcome = fetch_task(ref, settings, source_id)
    except DiskFullError as exc:
        vr.status, vr.error, vr.stages["fetch"] = "failed", str(exc), "failed"
        report.stopped = str(exc)
        return report
    except ClipwatchError as exc:  # as ingest_flow: this segment fails alone (the recorder sets it aside)
        vr.status, vr.error, vr.stages["fetch"] = "failed", str(exc), "failed"
        return report
    vr.video_id = outcome.video_id
    vr.stages["fetch"], vr.messages["fetch"] = outcome.status, outcome.message
    vr.seconds["fetch"] = round(outcome.seconds, 3)
    for name, (done, error) in run_pool_stages(outcome.video_id, settings, "media").items():
        record_stage(vr, outcome.video_id, name, done, error, settings)
    stats = FanOutStats()
    run = PoolRun("asr", ASR_DEPLOYMENT, {"video_ids": [outcome.video_id], "force": False, "options": {}},
               f"asr {outcome.video_id} (recorded)", [outcome.video_id])
    with prefect_client() as client:
        check_deployments(client, [ASR_DEPLOYMENT])
        start_run(run, stats)
        while True:
            poll_runs(client, [run], limits, stats)
            if run.state in FINAL:  # a crashed run still to be re-run was started again by poll_runs
                break
            time.sleep(poll_seconds)
        got = collect_reports(client, [run]).get(run.flow_run_id, [])
    merge_report(vr, got[0] if got else None, f"asr flow run {run.state.lower()}: {run.message}")
    log.info("segment %s: asr flow run %s %s", outcome.video_id, run.flow_run_id, run.state.lower())
    update_semantic_index(settings, report)
    return report
