"""Text on screen: read captions and chyrons at each keyframe (and through long shots), stored as timed segments.

Stored as a transcript of kind ``screen`` (searchable with ``--source screen``), with the boxes and confidences in
``screen_text.json`` in the video folder. Needs Debian's Tesseract language data (kor, eng): without them the stage
fails with a message naming the packages.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict

from pipeline.shots import ocr
from pipeline.stages.base import Job, Progress, Stage, StageOutcome
from pipeline.storage.files import atomic_write_json


def _shots(job: Job) -> list[tuple[float, float, float]]:
    if job.keyframes is not None:
        return [(float(k.time), float(k.shot_start), float(k.shot_end)) for k in job.keyframes.keyframes]
    return [(float(k["time"]), float(k["shot_start"]), float(k["shot_end"])) for k in job.store.keyframes(job.video_id)]


class ScreenTextStage(Stage):
    name = "ocr"
    pool = "media"
    skip_message = "already read for these keyframes"

    def __init__(self, reader=None) -> None:
        self.reader = reader  # a ScreenReader to reuse across videos; one is made (and closed) per run otherwise

    def key(self, job: Job) -> str:
        plan = hashlib.sha1(repr(_shots(job)).encode()).hexdigest()[:12]
        return f"{job.media_sha256}:{ocr.TOOL_VERSION}:{ocr.LANGUAGES}:{plan}"

    def run(self, job: Job, progress: Progress | None = None) -> StageOutcome:
        t0 = time.perf_counter()
        shots = _shots(job)
        if not shots:
            return StageOutcome(job.video_id, self.name, "not-applicable", "no keyframes to read", time.perf_counter() - t0)
        reader = self.reader or ocr.ScreenReader()
        try:
            result = ocr.screen_text(job.media_path, shots, reader, duration=float(job.video["duration"] or 0.0))
        finally:
            if self.reader is None:
                reader.close()
        path = job.folder / "screen_text.json"
        atomic_write_json(path, {"engine": f"tesseract {result.engine_version}", "languages": ocr.LANGUAGES,
                                 "frames_read": result.frames_read, "segments": [asdict(g) for g in result.segments]})
        job.store.replace_transcript(job.video_id, job.media_sha256, "screen", result, job.archive.relpath(path))
        detail = {"segments": len(result.segments), "frames_read": result.frames_read, "language": result.language}
        return StageOutcome(job.video_id, self.name, "done",
                            f"{len(result.segments)} lines of text on screen from {result.frames_read} frames",
                            time.perf_counter() - t0, detail)
