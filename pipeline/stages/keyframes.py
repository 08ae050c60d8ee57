"""Shots and one keyframe per shot (OpenCV), with perceptual hashes for re-upload matching."""

from __future__ import annotations

import time

from pipeline.shots import keyframes
from pipeline.stages.base import Job, Progress, Stage, StageOutcome


class KeyframesStage(Stage):
    name = "keyframes"
    pool = "media"
    skip_message = "already done for this file and detector"

    def __init__(self, detector: str | None = None) -> None:
        self.detector = detector

    def _detector(self) -> str:
        return self.detector or keyframes.DEFAULT_DETECTOR

    def key(self, job: Job) -> str:
        return f"{job.media_sha256}:{keyframes.TOOL_VERSION}:{self._detector()}"

    def run(self, job: Job, progress: Progress | None = None) -> StageOutcome:
        media = job.store.media_file(job.media_sha256, job.video_id)
        if media is not None and media["container"] is not None and not media["video_codec"]:
            # Audio only (a podcast, a SoundCloud track): no pictures to find; the thumbnail or cover art stands in.
            cover = next((p.name for p in sorted(job.folder.glob("thumbnail.*")) if p.is_file() and not p.is_symlink()), None)
            return StageOutcome(job.video_id, self.name, "not-applicable",
                                "audio only: no video stream" + (f"; {cover} stands as the picture" if cover else ""),
                                0.0, {"audio_only": True, "picture": cover})
        t0 = time.perf_counter()
        out_dir = job.folder / "keyframes"
        result = keyframes.extract_keyframes(job.media_path, out_dir, detector=self._detector(), progress=progress)
        for k in result.keyframes:
            k.path = (out_dir / k.path).relative_to(job.archive.root).as_posix()
        job.store.replace_keyframes(job.video_id, job.media_sha256, result.keyframes, result.detector, result.tool_version)
        job.keyframes = result
        detail = {"shots": len(result.shots), "keyframes": len(result.keyframes)}
        return StageOutcome(job.video_id, self.name, "done", f"{len(result.shots)} shots, {len(result.keyframes)} keyframes",
                            time.perf_counter() - t0, detail)
