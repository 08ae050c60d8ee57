"""Copies: match the video against the archive by keyframes and Chromaprint audio fingerprint; store the links.

Runs after the keyframes stage (it reads their hashes, with the mirror and crop variants from the keyframe result
or, when that stage was skipped, from the keyframe JPEGs) and reads the job's decoded audio. Without Chromaprint's
``fpcalc`` the audio half is skipped and the outcome says so; keyframes still match.
"""

from __future__ import annotations

import time

from pipeline.copies import copies, fingerprint
from pipeline.copies.matching import fingerprint_result
from pipeline.errors import ConfigError, NoAudioError
from pipeline.media.audio import SAMPLE_RATE
from pipeline.stages.base import Job, Progress, Stage, StageOutcome
from pipeline.storage.sqlite import copies as sql


class CopiesStage(Stage):
    name = "copies"
    skip_message = "already matched against the archive"

    def key(self, job: Job) -> str:
        return f"{job.media_sha256}:{copies.METHOD_VERSION}:{fingerprint.VERSION}"

    def run(self, job: Job, progress: Progress | None = None) -> StageOutcome:
        import cv2  # OpenCV is heavy (~1 s): only when frames are read

        t0 = time.perf_counter()
        store, vid = job.store, job.video_id
        notes: list[str] = []
        audio: list[fingerprint.AudioFingerprint] = []
        try:
            samples = job.samples()
            audio = [fingerprint.fingerprint_pcm(samples, SAMPLE_RATE, speed=s, how=h) for s, h in fingerprint.QUERY_SPEEDS]
            sql.save_fingerprint(store, vid, job.media_sha256, audio[0].to_bytes(), audio[0].duration,
                                 fingerprint.TOOL, fingerprint.fpcalc_version())
        except NoAudioError:
            notes.append("no audio track: keyframes only")
        except ConfigError as exc:
            notes.append(f"audio not compared: {exc}")
        finder = copies.CopyFinder()
        fps = dict(sql.fingerprints(store, exclude=vid))
        rows_by_video: dict[str, list] = {}
        for row in sql.keyframe_rows(store, exclude=vid):
            rows_by_video.setdefault(row[0], []).append(row)
        facts = {r["id"]: copies.VideoFacts(r["id"], r["upload_date"], r["archived_at"], r["duration"], r["channel"])
                 for r in sql.video_facts(store)}
        for other, f in facts.items():
            if other != vid:
                finder.add(f, rows_by_video.get(other, ()), fps.get(other))
        if job.keyframes is not None:  # fresh from the keyframes stage: mirror and crop hashes included
            qframes = fingerprint_result(job.keyframes)
        else:
            def load(rel: str):
                p = job.archive.abspath(rel)
                return cv2.imread(str(p)) if p.is_file() else None

            qframes = copies.query_frames(store.keyframes(vid), load)
        if not qframes:
            notes.append("no keyframes: audio only")
        links = finder.find(facts[vid], qframes, audio)
        sql.save_links(store, links, copies.METHOD_VERSION)
        for link in links:
            store.add_event("copy-linked", video_id=link.copy, detail={
                "original": link.original, "copy": link.copy, "method": link.method, "confidence": link.confidence,
                "offset": link.offset, "coverage": link.coverage})
        detail = {"links": len(links), "audio_items": len(audio[0]) if audio else 0, "keyframes": len(qframes), "notes": notes}
        msg = f"{len(links)} copy link{'s' if len(links) != 1 else ''}" + (f" ({'; '.join(notes)})" if notes else "")
        return StageOutcome(vid, self.name, "done", msg, time.perf_counter() - t0, detail)
