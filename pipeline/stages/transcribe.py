"""Whisper transcript of the original (and its English translation), over the job's decoded samples."""

from __future__ import annotations

import logging
import time
from typing import Any

from pipeline import asr
from pipeline.asr import subtitles
from pipeline.asr.flags import mark_transcript
from pipeline.errors import NoAudioError
from pipeline.speakers.subtitles import refresh_vtt
from pipeline.stages.base import Job, Progress, Stage, StageOutcome
from pipeline.translate import get_translator

log = logging.getLogger(__name__)


class TranscribeStage(Stage):
    name = "transcribe"
    skip_message = "already transcribed with this model"

    def key(self, job: Job) -> str:
        s = job.settings
        # words=1: word timestamps (issue 13); archives transcribed before get them on `reprocess` (the key changed).
        # A translator other than Whisper's is in the key (so choosing one redoes the stage); Whisper's keeps the
        # key it had, so archives translated before are not redone for nothing.
        translate = int(s.translate) if not s.translate or s.translator == "whisper" else s.translator
        return f"{job.media_sha256}:{s.engine}:{s.model}:translate={translate}:words=1"

    # No warm(): a CTranslate2 Whisper model loaded in another thread than the one that runs it transcribed 5x
    # slower (bench, 18 s clip on a loaded 2-core machine: transcribe 240 s against 48 s loaded in place).

    def _flag_over_audio(self, job: Job, tr: Any) -> int:
        """Flag segments over silence, or over music where Whisper was unsure (the stored audio profile)."""

        profile = job.load_profile()
        if profile is None or not tr.segments:
            return 0
        return mark_transcript(tr, profile)

    def run(self, job: Job, progress: Progress | None = None) -> StageOutcome:
        s = job.settings
        t0 = time.perf_counter()
        # The translator is loaded first: a translation model that is not pulled is said before anything is written.
        translator = get_translator(s.translator, s) if s.translate else None
        try:
            samples = job.samples()
        except NoAudioError as exc:
            job.store.add_event("skipped", video_id=job.video_id, detail={"stage": self.name, "reason": str(exc)})
            return StageOutcome(job.video_id, self.name, "not-applicable", "no audio track", 0.0, {"no_audio": True})
        # Word timestamps time a search hit at the matched word, not at the start of its line (the translation keeps
        # line times: English words cannot be placed in the Korean audio).
        # asr.transcribe, looked up when called: a test (or a fake engine) may replace it.
        tr = asr.transcribe(samples, model=s.model, engine=s.engine, models_dir=s.models_dir, progress=progress,
                            word_timestamps=True, device=s.device, batch_size=s.whisper_chunks)
        flagged_by_audio = self._flag_over_audio(job, tr)
        written = subtitles.write_transcript(tr, job.folder, "transcript")
        job.store.replace_transcript(job.video_id, job.media_sha256, "original", tr, job.archive.relpath(written["json"]))
        job.transcript, job.translation = tr, None
        detail: dict[str, Any] = {"language": tr.language, "segments": len(tr.segments),
                                  "flagged": sum(1 for g in tr.segments if g.flags), "flagged_by_audio": flagged_by_audio}
        refused = translator.refuses(tr) if translator is not None else None
        if translator is not None and tr.language and tr.language != "en" and tr.segments and not refused:
            tl = translator.translate(tr, samples)
            self._flag_over_audio(job, tl)
            written_tl = subtitles.write_transcript(tl, job.folder, "transcript.en")
            job.store.replace_transcript(job.video_id, job.media_sha256, "translation", tl,
                                         job.archive.relpath(written_tl["json"]))
            job.translation = tl
            detail["translation_segments"] = len(tl.segments)
            detail["translator"] = translator.name
        elif refused and tr.language != "en":
            detail["translation_skipped"] = refused
        refresh_vtt(job.store, job.archive, job.video_id)  # <v S1> in the subtitles when the speakers are known
        msg = f"{tr.language or '?'}; {detail['segments']} segments" + (f" ({detail['flagged']} flagged)" if detail["flagged"] else "")
        return StageOutcome(job.video_id, self.name, "done", msg, time.perf_counter() - t0, detail)
