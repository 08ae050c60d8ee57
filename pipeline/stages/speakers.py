"""Who speaks: speaker turns and one voice embedding per speaker, over the audio the job already decoded.

Runs after the audio profile (its speech seconds bound where voices are looked for) and beside the transcript:
turns are stored on their own and each transcript line takes its speaker when it is read (``records``), so a
re-transcription does not redo the speakers nor the other way round. Without the encoder's weights the stage is
``skipped`` with the line that says how to install them.
"""

from __future__ import annotations

import time

from pipeline.components import Need
from pipeline.config import Settings
from pipeline.errors import NoAudioError
from pipeline.media.profile import profile_version
from pipeline.speakers import diarize, ge2e
from pipeline.speakers.base import DEFAULT_ENCODER, MissingEncoder, get_encoder
from pipeline.speakers.subtitles import refresh_vtt
from pipeline.stages.base import Job, Progress, Stage, StageOutcome


class SpeakersStage(Stage):
    name = "speakers"
    skip_message = "speakers already found with this encoder"
    beside = True  # voices need the audio and its profile, not the transcript: embedded while Whisper runs

    def __init__(self, encoder: str | None = None) -> None:
        self.encoder_name = encoder or DEFAULT_ENCODER
        self._encoder = None

    def encoder(self):
        if self._encoder is None:
            self._encoder = get_encoder(self.encoder_name)
        return self._encoder

    def key(self, job: Job) -> str:
        try:
            version = self.encoder().version
        except MissingEncoder:
            version = "missing"  # never recorded: a skipped stage has no key in stage_runs
        return (f"{job.media_sha256}:{version}:t={diarize.THRESHOLD}:step={diarize.STEP_S}:"
                f"min={diarize.MIN_SPEAKER_S}:profile={profile_version()}")

    def warm(self, settings: Settings) -> None:
        """The speaker encoder (the GE2E weights, read with numpy: ~0.2 s, no torch), into the cache every run reads."""
        self.encoder()

    def needs(self) -> list[Need]:
        """The speaker encoder's weights, when they are not installed (the stage is then skipped)."""
        try:
            self.encoder()
        except MissingEncoder:
            return [Need("speaker-encoder", "speaker turns and voice search", ge2e.INSTALL_HINT)]
        return []

    def run(self, job: Job, progress: Progress | None = None) -> StageOutcome:
        t0 = time.perf_counter()
        try:
            encoder = self.encoder()
        except MissingEncoder as exc:
            return StageOutcome(job.video_id, self.name, "skipped", str(exc), time.perf_counter() - t0,
                                {"needs": [n.to_dict() for n in self.needs()]})  # said once in the run's summary
        try:
            samples = job.samples()
        except NoAudioError:
            return StageOutcome(job.video_id, self.name, "not-applicable", "no audio track", time.perf_counter() - t0,
                                {"no_audio": True})
        result = diarize.diarize(samples, encoder, job.load_profile())
        job.store.replace_speakers(job.video_id, job.media_sha256, encoder.version, result.turns, result.voices)
        refresh_vtt(job.store, job.archive, job.video_id)
        detail = {"speakers": len(result.voices), "turns": len(result.turns), "windows": result.windows,
                  "speech_seconds": round(result.speech_seconds, 1), "encoder": encoder.version}
        if not result.voices:
            msg = "no speakers (no speech long enough to tell voices apart)"
        else:
            n = len(result.voices)
            msg = f"{n} speaker{'s' if n != 1 else ''}, {len(result.turns)} turns"
        return StageOutcome(job.video_id, self.name, "done", msg, time.perf_counter() - t0, detail)
