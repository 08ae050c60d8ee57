"""Copies: match the video against the archive by keyframes and Chromaprint audio fingerprint; store the links.

Runs after the keyframes stage (it reads their hashes, with the mirror and crop variants from the keyframe result
or, when that stage was skipped, from the keyframe JPEGs) and reads the job's decoded audio. Fingerprints come from
Chromaprint's ``fpcalc`` or, without it, from the chromaprint muxer of clipwatch's own ffmpeg. With neither, the
audio half is skipped, the outcome says so and lists the need, and the key marks the run as keyframes-only, so
the next ingest or ``reprocess`` compares the audio once a fingerprinter exists; keyframes still match.
"""

from __future__ import annotations

import time

from pipeline.components import Need
from pipeline.copies import copies, fingerprint
from pipeline.copies import index as copyindex
from pipeline.copies.matching import fingerprint_result
from pipeline.errors import ConfigError, NoAudioError
from pipeline.media.audio import SAMPLE_RATE
from pipeline.stages.base import Job, Progress, Stage, StageOutcome


class CopiesStage(Stage):
    name = "copies"
    joins = True  # keyframe hashes (picture lane) and the audio fingerprint (audio lane)
    skip_message = "already matched against the archive"

    def key(self, job: Job) -> str:
        key = f"{job.media_sha256}:{copies.METHOD_VERSION}:{fingerprint.VERSION}"
        # a run without audio fingerprints is not the finished run: it must not count as done once fpcalc exists
        return key if fingerprint.fingerprinter_available() else key + ":keyframes-only"

    def needs(self) -> list[Need]:
        """Chromaprint, when neither fpcalc nor ffmpeg's chromaprint muxer is here (audio is then not compared)."""
        if fingerprint.fingerprinter_available():
            return []
        return [Need("chromaprint", "audio copies (Chromaprint fingerprints)", fingerprint.FPCALC_FIX)]

    def run(self, job: Job, progress: Progress | None = None) -> StageOutcome:
        import cv2  # OpenCV is heavy (~1 s): only when frames are read

        t0 = time.perf_counter()
        store, vid = job.store, job.video_id
        notes: list[str] = []
        needs: list[Need] = []
        audio: list[fingerprint.AudioFingerprint] = []
        try:
            tool: str | None = fingerprint.fingerprinter()[0]
        except ConfigError:
            tool = None
            notes.append(f"audio not compared: no Chromaprint fingerprinter ({fingerprint.FPCALC_FIX})")
            needs.extend(self.needs())
        try:
            if tool is not None:
                samples = job.samples()
                audio = [fingerprint.fingerprint_pcm(samples, SAMPLE_RATE, speed=s, how=h)
                         for s, h in fingerprint.QUERY_SPEEDS]
                store.save_fingerprint(vid, job.media_sha256, audio[0].to_bytes(), audio[0].duration,
                                     tool, fingerprint.fpcalc_version())
        except NoAudioError:
            notes.append("no audio track: keyframes only")
        except ConfigError as exc:
            notes.append(f"audio not compared: {exc}")
        if job.keyframes is not None:  # fresh from the keyframes stage: mirror and crop hashes included
            qframes = fingerprint_result(job.keyframes)
        else:
            def load(rel: str):
                p = job.archive.abspath(rel)
                return cv2.imread(str(p)) if p.is_file() else None

            qframes = copies.query_frames(store.keyframes(vid), load)
        if not qframes:
            notes.append("no keyframes: audio only")
        # The archive side comes from the persistent copies index (issue 19 item 4), not from loading every archived
        # video: only the candidates its lookups find are read. Under its lock, so two ingests at once see each other.
        idx, rebuilt = copyindex.open_or_rebuild(store)
        if rebuilt:  # the archive's first copies stage has no index yet: built, not "rebuilt"
            notes.append("copies index " + ("built" if rebuilt.startswith("no copies index") else "rebuilt")
                         + " from the catalogue")
        with idx.locked():
            copyindex.sync(idx, store, skip=vid)
            load_facts = copyindex.facts_loader(store)
            links = idx.find(load_facts([vid])[vid], qframes, audio, load_facts)
            store.save_links(links, copies.METHOD_VERSION)
            idx.put(copyindex.entries_from_catalogue(store, [vid]))
        for link in links:
            store.add_event("copy-linked", video_id=link.copy, detail={
                "original": link.original, "copy": link.copy, "method": link.method, "confidence": link.confidence,
                "offset": link.offset, "coverage": link.coverage})
        detail = {"links": len(links), "audio_items": len(audio[0]) if audio else 0, "keyframes": len(qframes), "notes": notes,
                  "needs": [n.to_dict() for n in needs]}
        msg = f"{len(links)} copy link{'s' if len(links) != 1 else ''}" + (f" ({'; '.join(notes)})" if notes else "")
        return StageOutcome(vid, self.name, "done", msg, time.perf_counter() - t0, detail)
