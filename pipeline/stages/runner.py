"""Record fetches and run stages for archived videos, keeping each stage's key in ``stage_runs``.

Prefect tasks in ``flows/`` wrap these one to one. A stage is skipped when its key (media SHA-256 + stage version
+ parameters + the versions of the data it reads) matches the last finished run, so a re-run or a resumed crash
redoes nothing and ``reprocess`` redoes exactly what changed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.preservation.manifest import record_manifest
from pipeline.sources.fetch import FetchedVideo
from pipeline.stages.audio import AudioProfileStage
from pipeline.stages.base import Job, Progress, Stage, StageOutcome
from pipeline.stages.copies import CopiesStage
from pipeline.stages.keyframes import KeyframesStage
from pipeline.stages.screen_text import ScreenTextStage
from pipeline.stages.tag import TagStage
from pipeline.stages.transcribe import TranscribeStage
from pipeline.storage.files import Archive, atomic_write_json
from pipeline.storage.sqlite.catalogue import Store

log = logging.getLogger(__name__)


def record_fetch(store: Store, archive: Archive, fetched: FetchedVideo, source_id: int | None) -> StageOutcome:
    """Catalogue a fetched video: metadata, media file, info.json, thumbnail, and a `fetched` event."""
    v = fetched.video
    v.source_id = source_id
    folder = archive.video_dir(v.id)
    rel_folder = folder.relative_to(archive.root).as_posix()
    if fetched.skipped:
        changed = store.upsert_video(v, rel_folder)
        if changed:
            # Keep the old metadata: versions are history, never overwritten.
            info_rel = _write_info(archive, folder, fetched.info, versioned=True)
            store.add_metadata_version(v.id, v.title, v.description, v.platform_tags, info_rel)
            from pipeline.preservation.facts import changes

            store.add_event("metadata-changed", video_id=v.id, detail={"title": v.title, "facts": changes(store, v.id)})
            record_manifest(store, archive, v.id, cause="metadata changed")
        else:  # fields the platform filled in later (channel, dates) go under the chain too
            from pipeline.preservation.facts import attest

            attest(store, v.id, cause="fetched again: metadata refreshed")
        return StageOutcome(v.id, "fetch", "skipped", "already archived: no download")
    folder.mkdir(parents=True, exist_ok=True)
    info_rel = _write_info(archive, folder, fetched.info)
    if fetched.thumbnail is not None:
        archive.copy_into(fetched.thumbnail, folder / f"thumbnail{fetched.thumbnail.suffix}")
    m = fetched.media
    assert m is not None
    provenance = {
        "source_url": m.source_url, "webpage_url": v.webpage_url, "final_url": m.final_url, "http_status": m.http_status,
        "http_headers": m.http_headers, "fetch_started_at": m.fetch_started_at, "fetched_at": m.fetched_at,
        "fetcher": m.fetcher, "fetcher_version": m.fetcher_version, "clipwatch_version": m.clipwatch_version,
        "format_id": m.format_id, "sha256": m.sha256, "size": m.size, "media_path": m.path,
    }
    atomic_write_json(folder / "provenance.json", provenance)
    with store.transaction():
        store.upsert_video(v, rel_folder)
        store.add_media_file(m)
        store.add_metadata_version(v.id, v.title, v.description, v.platform_tags, info_rel)
        store.add_event("fetched", video_id=v.id, source_id=source_id, media_sha256=m.sha256, detail=provenance)
        from pipeline.preservation.facts import attest

        attest(store, v.id, cause="fetched")  # the catalogue rows under the chain with the fetch itself
    record_manifest(store, archive, v.id, cause="fetched")
    fetched.cleanup()
    return StageOutcome(v.id, "fetch", "done", f"{m.size / 1e6:.1f} MB, sha256 {m.sha256[:12]}…")


def _write_info(archive: Archive, folder: Path, info: dict[str, Any], versioned: bool = False) -> str:
    name = "info.json"
    if versioned:
        name = f"info.{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    atomic_write_json(folder / name, info)
    return (folder / name).relative_to(archive.root).as_posix()


def run_stage(job: Job, stage: Stage, progress: Progress | None = None) -> StageOutcome:
    """Run one stage unless its key is unchanged since it last finished; record the key and the outcome."""
    key = stage.key(job)
    if not job.force and job.store.stage_done(job.video_id, stage.name, key):
        return StageOutcome(job.video_id, stage.name, "skipped", stage.skip_message)
    outcome = stage.run(job, progress)
    if outcome.status in ("done", "not-applicable"):
        from pipeline.preservation.facts import attest

        # the stage's mark and the digests of the rows it wrote go in together: a crash cannot leave a finished
        # stage whose rows the chain never recorded (verify would call them forged, and a re-run would skip it)
        with job.store.transaction():
            job.store.mark_stage(job.video_id, stage.name, key, outcome.detail)
            attest(job.store, job.video_id, cause=f"stage {stage.name}")
    if outcome.status == "done":  # it may have written derivatives: hash them into the video's manifest
        record_manifest(job.store, job.archive, job.video_id, cause=f"stage {stage.name}")
    return outcome


def open_job(store: Store, archive: Archive, video_id: str, settings: Settings | None = None, force: bool = False) -> Job:
    return Job(store, archive, settings or Settings(), video_id, force=force)


# One-stage entry points (the CLI's `tags run`, tests, scripts); a flow runs a whole Job through STAGES.

def run_keyframes(store: Store, archive: Archive, video_id: str, detector: str | None = None,
                  force: bool = False, progress: Progress | None = None) -> StageOutcome:
    with open_job(store, archive, video_id, force=force) as job:
        return run_stage(job, KeyframesStage(detector), progress)


def run_copies(store: Store, archive: Archive, video_id: str, force: bool = False) -> StageOutcome:
    with open_job(store, archive, video_id, force=force) as job:
        return run_stage(job, CopiesStage())


def run_ocr(store: Store, archive: Archive, video_id: str, force: bool = False) -> StageOutcome:
    with open_job(store, archive, video_id, force=force) as job:
        return run_stage(job, ScreenTextStage())


def run_transcribe(store: Store, archive: Archive, video_id: str, settings: Settings,
                   force: bool = False, progress: Progress | None = None) -> StageOutcome:
    with open_job(store, archive, video_id, settings, force) as job:
        run_stage(job, AudioProfileStage())
        return run_stage(job, TranscribeStage(), progress)


def run_tagging(store: Store, archive: Archive, video_id: str, force: bool = False) -> StageOutcome:
    with open_job(store, archive, video_id, force=force) as job:
        return run_stage(job, TagStage())


def outcome_dict(o: StageOutcome) -> dict[str, Any]:
    return asdict(o)
