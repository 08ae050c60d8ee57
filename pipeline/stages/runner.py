"""Run one stage for one archived video and record its result.

These functions are the glue between the stage modules (which know nothing of
storage) and the catalogue; Prefect tasks in ``flows/`` wrap them one to one.
Each stage is skipped when its key (media SHA-256 + stage version + parameters)
matches the last finished run, so a re-run or a resumed crash redoes nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipeline.storage.files import Archive, atomic_write_json
from pipeline.config import Settings
from pipeline.errors import ClipwatchError, NoAudioError
from pipeline.sources.fetch import FetchedVideo
from pipeline.storage.sqlite.catalogue import Store

log = logging.getLogger(__name__)

Progress = Callable[[float, float], None]


@dataclass
class StageOutcome:
    video_id: str
    stage: str
    status: str  # done | skipped | failed | not-applicable
    message: str = ""
    seconds: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)


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
            store.add_event("metadata-changed", video_id=v.id, detail={"title": v.title})
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
    fetched.cleanup()
    return StageOutcome(v.id, "fetch", "done", f"{m.size / 1e6:.1f} MB, sha256 {m.sha256[:12]}…")


def _write_info(archive: Archive, folder: Path, info: dict[str, Any], versioned: bool = False) -> str:
    name = "info.json"
    if versioned:
        name = f"info.{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    atomic_write_json(folder / name, info)
    return (folder / name).relative_to(archive.root).as_posix()


def _media(store: Store, archive: Archive, video_id: str) -> tuple[Any, Path]:
    video = store.get_video(video_id)
    media = store.media_file(video["media_sha256"]) if video["media_sha256"] else None
    if media is None:
        raise ClipwatchError(f"{video_id}: no archived media file; ingest it again")
    return video, archive.abspath(media["path"])


def run_keyframes(store: Store, archive: Archive, video_id: str, detector: str | None = None,
                  force: bool = False, progress: Progress | None = None) -> StageOutcome:
    from pipeline.shots import keyframes

    video, media_path = _media(store, archive, video_id)
    detector = detector or keyframes.DEFAULT_DETECTOR
    key = f"{video['media_sha256']}:{keyframes.TOOL_VERSION}:{detector}"
    if not force and store.stage_done(video_id, "keyframes", key):
        return StageOutcome(video_id, "keyframes", "skipped", "already done for this file and detector")
    t0 = time.perf_counter()
    folder = archive.video_dir(video_id)
    out_dir = folder / "keyframes"
    result = keyframes.extract_keyframes(media_path, out_dir, detector=detector, progress=progress)
    for k in result.keyframes:
        k.path = (out_dir / k.path).relative_to(archive.root).as_posix()
    store.replace_keyframes(video_id, video["media_sha256"], result.keyframes, result.detector, result.tool_version)
    detail = {"shots": len(result.shots), "keyframes": len(result.keyframes)}
    store.mark_stage(video_id, "keyframes", key, detail)
    return StageOutcome(video_id, "keyframes", "done", f"{len(result.shots)} shots, {len(result.keyframes)} keyframes",
                        time.perf_counter() - t0, detail)


def run_transcribe(store: Store, archive: Archive, video_id: str, settings: Settings,
                   force: bool = False, progress: Progress | None = None) -> StageOutcome:
    from pipeline.asr import subtitles
    from pipeline.asr import transcribe

    video, media_path = _media(store, archive, video_id)
    # words=1: word timestamps (issue 13). Archives transcribed before get them on `reprocess` (the key changed).
    key = f"{video['media_sha256']}:{settings.engine}:{settings.model}:translate={int(settings.translate)}:words=1"
    if not force and store.stage_done(video_id, "transcribe", key):
        return StageOutcome(video_id, "transcribe", "skipped", "already transcribed with this model")
    t0 = time.perf_counter()
    folder = archive.video_dir(video_id)
    try:
        # Word timestamps time a search hit at the matched word, not at the start of its line.
        tr = transcribe.transcribe(media_path, model=settings.model, engine=settings.engine, word_timestamps=True,
                                   models_dir=settings.models_dir, progress=progress)
    except NoAudioError as exc:
        store.mark_stage(video_id, "transcribe", key, {"no_audio": True})
        store.add_event("skipped", video_id=video_id, detail={"stage": "transcribe", "reason": str(exc)})
        return StageOutcome(video_id, "transcribe", "not-applicable", "no audio track")
    flagged_by_audio = _flag_against_audio(tr, media_path)
    written = subtitles.write_transcript(tr, folder, "transcript")
    store.replace_transcript(video_id, video["media_sha256"], "original", tr, _rel(archive, written.get("json")))
    detail: dict[str, Any] = {"language": tr.language, "segments": len(tr.segments),
                              "flagged": sum(1 for s in tr.segments if s.flags), "flagged_by_audio": flagged_by_audio}
    if settings.translate and tr.language and tr.language != "en" and tr.segments and not settings.model.endswith(".en"):
        tl = transcribe.transcribe(media_path, model=settings.model, engine=settings.engine, language=tr.language,
                                   task="translate", models_dir=settings.models_dir)
        _flag_against_audio(tl, media_path)
        written_tl = subtitles.write_transcript(tl, folder, "transcript.en")
        store.replace_transcript(video_id, video["media_sha256"], "translation", tl, _rel(archive, written_tl.get("json")))
        detail["translation_segments"] = len(tl.segments)
    store.mark_stage(video_id, "transcribe", key, detail)
    msg = f"{tr.language or '?'}; {detail['segments']} segments" + (f" ({detail['flagged']} flagged)" if detail["flagged"] else "")
    return StageOutcome(video_id, "transcribe", "done", msg, time.perf_counter() - t0, detail)


def _flag_against_audio(tr, media_path: Path) -> int:
    """Flag segments over silence, or over music where Whisper was unsure (see signals.audio)."""
    from pipeline.errors import MediaError
    from pipeline.tagging.signals.audio import analyse_audio, mark_transcript

    if not tr.segments:
        return 0
    try:
        profile = analyse_audio(media_path)
    except MediaError as exc:
        log.info("no audio profile for %s: %s", media_path, exc)
        return 0
    return mark_transcript(tr, profile)


def run_tagging(store: Store, archive: Archive, video_id: str, force: bool = False) -> StageOutcome:
    from pipeline.tagging import model as tagging

    video, _media_path = _media(store, archive, video_id)
    tr_rows = {r["kind"]: r for r in store.transcript_rows(video_id)}
    key = f"{video['media_sha256']}:{tagging.load_model().version}:" + ",".join(f"{k}={r['id']}" for k, r in sorted(tr_rows.items()))
    if not force and store.stage_done(video_id, "tag", key):
        return StageOutcome(video_id, "tag", "skipped", "already tagged by this model version")
    t0 = time.perf_counter()
    inp = tagging.input_from_store(store, video_id, archive.root)
    result = tagging.tag_video(inp)
    store.replace_tags(video_id, result.tags, result.model_version)
    detail = {t.category: round(t.score, 3) for t in result.tags}
    store.mark_stage(video_id, "tag", key, detail)
    shown = ", ".join(f"{t.category} {t.score:.2f}" for t in sorted(result.tags, key=lambda t: -t.score) if t.decision) or "no category"
    return StageOutcome(video_id, "tag", "done", shown, time.perf_counter() - t0, detail)


def _rel(archive: Archive, path: Path | None) -> str | None:
    return archive.relpath(path) if path else None


def outcome_dict(o: StageOutcome) -> dict[str, Any]:
    return asdict(o)
