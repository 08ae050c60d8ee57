"""Record fetches and run stages for archived videos, keeping each stage's key in ``stage_runs``.

Prefect tasks in ``flows/`` wrap these one to one. A stage is skipped when its key (media SHA-256 + stage version
+ parameters + the versions of the data it reads) matches the last finished run, so a re-run or a resumed crash
redoes nothing and ``reprocess`` redoes exactly what changed.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.errors import ConfigError
from pipeline.preservation.manifest import record_manifest
from pipeline.sources.comments import KIND as COMMENTS
from pipeline.sources.comments import write_comments
from pipeline.sources.fetch import FetchedVideo
from pipeline.stages.base import Job, Progress, Stage, StageOutcome
from pipeline.stages.copies import CopiesStage
from pipeline.stages.keyframes import KeyframesStage
from pipeline.stages.screen_text import ScreenTextStage
from pipeline.stages.tag import TagStage
from pipeline.storage.base import BlobStore, Catalogue
from pipeline.storage.facts import attest, changes
from pipeline.storage.files import atomic_write_json
from pipeline.storage.locks import video_lock

log = logging.getLogger(__name__)


def record_fetch(store: Catalogue, archive: BlobStore, fetched: FetchedVideo, source_id: int | None) -> StageOutcome:
    """Catalogue a fetched video: metadata, media file, info.json, thumbnail, and a `fetched` event.

    Runs under the video's lock (``pipeline.storage.locks``): when another process or machine recorded the same
    file for this video while this one was downloading, nothing more is recorded (one fact, one record).
    """
    with video_lock(store, fetched.video.id):
        return _record_fetch(store, archive, fetched, source_id)


def _concurrent_fetch(store: Catalogue, video_id: str, sha256: str, started_at: str | None) -> bool:
    """True when a `fetched` event for this file was recorded after this fetch began: another process fetched the
    same video at the same time (a deliberate re-fetch later starts after the earlier event and is recorded)."""
    if store.find_video(video_id) is None:
        return False
    for ev in store.fetched_events(video_id, sha256):
        try:
            at = json.loads(ev["detail"] or "{}").get("fetched_at") or ev["at"]
        except ValueError:
            at = ev["at"]
        if started_at is None or str(at) >= str(started_at):
            return True
    return False


def _record_fetch(store: Catalogue, archive: BlobStore, fetched: FetchedVideo, source_id: int | None) -> StageOutcome:
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
            store.add_event("metadata-changed", video_id=v.id, detail={"title": v.title, "facts": changes(store, v.id)})
            record_manifest(store, archive, v.id, cause="metadata changed")
        else:  # fields the platform filled in later (channel, dates) go under the chain too
            attest(store, v.id, cause="fetched again: metadata refreshed")
        return StageOutcome(v.id, "fetch", "skipped", "already archived: no download")
    if fetched.media is not None and _concurrent_fetch(store, v.id, fetched.media.sha256, fetched.media.fetch_started_at):
        # Checked before writing anything: this process's info.json would differ from the recorded one.
        fetched.cleanup()
        return StageOutcome(v.id, "fetch", "skipped", "already archived: another process recorded the same file "
                                                       "while this one downloaded it (nothing recorded twice)")
    folder.mkdir(parents=True, exist_ok=True)
    info_rel = _write_info(archive, folder, fetched.info)
    if fetched.thumbnail is not None:
        archive.copy_into(fetched.thumbnail, folder / f"thumbnail{fetched.thumbnail.suffix}")
    m = fetched.media
    assert m is not None
    capture = _file_capture(archive, folder, fetched)
    comments = write_comments(folder, fetched.info, m.fetcher_version or "")  # with --comments (issue 23)
    provenance = {
        "source_url": m.source_url, "webpage_url": v.webpage_url, "final_url": m.final_url, "http_status": m.http_status,
        "http_headers": m.http_headers, "fetch_started_at": m.fetch_started_at, "fetched_at": m.fetched_at,
        "fetcher": m.fetcher, "fetcher_version": m.fetcher_version, "clipwatch_version": m.clipwatch_version,
        "format_id": m.format_id, "sha256": m.sha256, "size": m.size, "media_path": m.path,
    }
    if capture is not None:
        provenance["capture"] = capture  # the WACZ's SHA-256 goes into the chain with the fetch (issue 23)
    atomic_write_json(folder / "provenance.json", provenance)
    with store.transaction():
        store.upsert_video(v, rel_folder)
        store.add_media_file(m)
        store.add_metadata_version(v.id, v.title, v.description, v.platform_tags, info_rel)
        store.add_event("fetched", video_id=v.id, source_id=source_id, media_sha256=m.sha256, detail=provenance)
        if comments is not None:  # searchable as their own source; under the chain with the fetch
            store.replace_transcript(v.id, m.sha256, COMMENTS, comments[1], archive.relpath(comments[0]))
        attest(store, v.id, cause="fetched")  # the catalogue rows under the chain with the fetch itself
    record_manifest(store, archive, v.id, cause="fetched")
    fetched.cleanup()
    return StageOutcome(v.id, "fetch", "done", f"{m.size / 1e6:.1f} MB, sha256 {m.sha256[:12]}…")


def _file_capture(archive: BlobStore, folder: Path, fetched: FetchedVideo) -> dict[str, Any] | None:
    """File the fetch's WACZ in the video's folder as ``capture/<sha256>.wacz`` (named by its content, so a
    later capture never replaces an earlier one); returns what provenance.json and the event say of it."""
    summary = dict(fetched.capture_summary or {})
    if fetched.capture is None or not summary.get("sha256"):
        return summary or None
    dest = folder / "capture" / f"{summary['sha256']}.wacz"
    dest.parent.mkdir(parents=True, exist_ok=True)
    archive.copy_into(fetched.capture, dest)
    summary["path"] = dest.relative_to(archive.root).as_posix()
    return summary


def _write_info(archive: BlobStore, folder: Path, info: dict[str, Any], versioned: bool = False) -> str:
    name = "info.json"
    if versioned:
        name = f"info.{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    atomic_write_json(folder / name, info)
    return (folder / name).relative_to(archive.root).as_posix()


def run_stage(job: Job, stage: Stage, progress: Progress | None = None) -> StageOutcome:
    """Run one stage unless its key is unchanged since it last finished; record the key and the outcome."""
    if stage.name in job.settings.shed:  # left out to keep up (a live recorder's backlog): never marked done
        return StageOutcome(job.video_id, stage.name, "skipped", "shed to keep up with a live stream; "
                            "clipwatch reprocess runs it")
    key = stage.key(job)
    if not job.force and job.store.stage_done(job.video_id, stage.name, key):
        needs = [n.to_dict() for n in stage.needs()]
        return StageOutcome(job.video_id, stage.name, "skipped", stage.skip_message, detail={"needs": needs} if needs else {})
    outcome = stage.run(job, progress)
    if outcome.status in ("done", "not-applicable"):
        # the stage's mark and the digests of the rows it wrote go in together: a crash cannot leave a finished
        # stage whose rows the chain never recorded (verify would call them forged, and a re-run would skip it)
        with job.store.transaction():
            job.store.mark_stage(job.video_id, stage.name, key, outcome.detail)
            attest(job.store, job.video_id, cause=f"stage {stage.name}")
    if outcome.status == "done":  # it may have written derivatives: hash them into the video's manifest
        record_manifest(job.store, job.archive, job.video_id, cause=f"stage {stage.name}")
    return outcome


def open_job(store: Catalogue, archive: BlobStore, video_id: str, settings: Settings | None = None, force: bool = False) -> Job:
    return Job(store, archive, settings or Settings(), video_id, force=force)


# One-stage entry points (the CLI's `tags run`, tests, scripts); a flow runs a whole Job through STAGES.

def run_keyframes(store: Catalogue, archive: BlobStore, video_id: str, detector: str | None = None,
                  force: bool = False, progress: Progress | None = None) -> StageOutcome:
    with open_job(store, archive, video_id, force=force) as job:
        return run_stage(job, KeyframesStage(detector), progress)


def run_copies(store: Catalogue, archive: BlobStore, video_id: str, force: bool = False) -> StageOutcome:
    with open_job(store, archive, video_id, force=force) as job:
        return run_stage(job, CopiesStage())


def run_ocr(store: Catalogue, archive: BlobStore, video_id: str, force: bool = False) -> StageOutcome:
    """Read one video's text on screen. Asked for by name, a stage that cannot run at all here (no Tesseract
    language data) is a ConfigError naming the package, not a quiet skip as inside a whole ingest."""
    with open_job(store, archive, video_id, force=force) as job:
        outcome = run_stage(job, ScreenTextStage())
    if outcome.status == "skipped" and outcome.detail.get("needs"):
        raise ConfigError(outcome.message)
    return outcome


def run_tagging(store: Catalogue, archive: BlobStore, video_id: str, force: bool = False) -> StageOutcome:
    with open_job(store, archive, video_id, force=force) as job:
        return run_stage(job, TagStage())
