"""The ingest flow: discover → fetch (parallel, retried) → one overlapped pass per video → indexed.

The scheduler is ``flows.batch`` (Prefect-free): each video's audio lane (audio profile → Whisper → speakers)
starts as soon as its download lands, its picture lane (shots, keyframes, text on screen) runs beside it on the
download worker, and copies and the tagger run at the join. Here every step is a Prefect task of the ``ingest``
flow run (``PrefectSteps``); ``flows.batch.ingest`` runs the same pass with plain calls and no Prefect at all.

Each video is independent: a failure is recorded as an event and reported, and the rest of the batch goes on.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from pipeline.config import Settings
from pipeline.errors import ClipwatchError, DownloadError
from pipeline.sources.discovery import Discovery, VideoRef, discover
from pipeline.stages import STAGES
from pipeline.stages.base import Job, Stage, StageOutcome
from pipeline.storage.base import blob_store_for, catalogue_for

from . import batch
from .batch import (  # noqa: F401 - the flow's public names, as before the scheduler moved to flows.batch
    DOWNLOAD_WORKERS,
    MEDIA_SLOTS,
    IngestReport,
    Pictures,
    PictureTurns,
    VideoReport,
    disk_full_as_error,
    sweep_and_discover,
)

log = logging.getLogger(__name__)


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
def fetch_task(ref: VideoRef, settings: Settings, source_id: int | None) -> StageOutcome:
    return batch.fetch_video(ref, settings, source_id)


@task(name="stage", cache_policy=NO_CACHE)
def stage_task(job: Job, stage: Stage) -> StageOutcome:
    return batch.run_one_stage(job, stage)


@task(name="index-semantic", cache_policy=NO_CACHE)
def semantic_index_task(settings: Settings) -> dict[str, Any]:
    """Embed new transcript segments for --semantic/--hybrid search (once per batch: the vector file is rewritten)."""
    return batch.embed_segments(settings)


class PrefectSteps:
    """The batch's steps as tasks of the running flow (``flows.batch.Steps``)."""

    def discover(self, source: str) -> Discovery:
        return discover_task(source)

    def stage(self, job: Job, stage: Stage) -> StageOutcome:
        return stage_task.with_options(name=stage.name)(job, stage)

    def embed(self, settings: Settings) -> dict[str, Any]:
        return semantic_index_task(settings)

    def submit_prepare(self, ref, settings, source_id, force, landed, turns, index):
        return prepare_task.submit(ref, settings, source_id, force, landed, turns, index)


STEPS = PrefectSteps()


@task(name="prepare", cache_policy=NO_CACHE)
def prepare_task(ref: VideoRef, settings: Settings, source_id: int | None, force: bool, landed: Future,
                 turns: PictureTurns, index: int) -> Pictures:
    """Download (handing the outcome to the audio lane as soon as it lands), then, in the same worker and in its
    turn, the video's picture stages — beside the transcription of this and earlier videos."""
    return batch.prepare(ref, settings, source_id, force, landed, turns, index, fetch_task, STEPS)


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
            batch.run_stages(job, [cls for cls in STAGES if cls.pool == pool], STEPS, settings, results, {})
    return results


def record_stage(report: VideoReport, video_id: str, stage: str, outcome: StageOutcome | None, error: str | None,
            settings: Settings) -> None:
    """Record one stage's outcome (or error) for a video in ``report`` (see flows.batch.record)."""
    batch.record(report, video_id, stage, outcome, error, settings)


def analyse(video_id: str, settings: Settings, report: VideoReport, force: bool = False,
            done: set[str] | None = None) -> None:
    """One archived video through every stage not in ``done``, as tasks of the running flow: its picture lane
    beside its audio lane, then the join. A stage's failure is recorded, not fatal."""
    batch.analyse(video_id, settings, report, force, done, steps=STEPS)


def update_semantic_index(settings: Settings, report: IngestReport) -> None:
    batch.update_semantic_index(settings, report, STEPS.embed)


# Prefect types task_runner as TaskRunner[PrefectFuture[Any]], which its own ThreadPoolTaskRunner (a
# TaskRunner[PrefectConcurrentFuture[R]]) does not match, TaskRunner being invariant: a gap in Prefect's typing
@flow(name="ingest", log_prints=False,
      task_runner=ThreadPoolTaskRunner(max_workers=DOWNLOAD_WORKERS))  # type: ignore[arg-type]
def ingest_flow(sources: list[str], settings: Settings | None = None, force: bool = False) -> IngestReport:
    """Ingest sources as a Prefect flow run (each step a task; see ``flows.batch``).

    Arguments:
        sources: URLs, feeds, playlists or local paths.
        settings: The settings (from the environment by default).
        force: Redo stages whose key is unchanged.

    Returns:
        The batch's report.
    """
    return batch.run_batch(sources, settings or Settings(), force, STEPS)
