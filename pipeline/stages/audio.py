"""The audio profile: speech / music / speech over music / noise / silence per second, computed once per original and kept.

It reads the job's decoded audio (``Job.samples``, decoded once for every reader) beside the transcription,
which waits for the profile only when it flags its segments, and both the transcript's music/silence flags and the tagger read the profile it stores
(``audio_profile.json`` in the video folder and an ``audio_profiles`` row).
"""

from __future__ import annotations

import time

from pipeline.errors import NoAudioError
from pipeline.media.profile import analyse_array, profile_dict, profile_version
from pipeline.stages.base import Job, Progress, Stage, StageOutcome
from pipeline.storage.files import atomic_write_json


class AudioProfileStage(Stage):
    name = "audio"
    beside = True  # Whisper does not read the profile until its transcript is made (flags): profiled while it runs
    skip_message = "already profiled by this classifier"

    def key(self, job: Job) -> str:
        return f"{job.media_sha256}:{profile_version()}"  # features + weights: a new classifier re-profiles

    def run(self, job: Job, progress: Progress | None = None) -> StageOutcome:
        t0 = time.perf_counter()
        try:
            samples = job.samples()
        except NoAudioError:  # the transcribe stage records the `skipped` event for the video
            return StageOutcome(job.video_id, self.name, "not-applicable", "no audio track", time.perf_counter() - t0,
                                {"no_audio": True})
        profile = analyse_array(samples)
        path = job.folder / "audio_profile.json"
        atomic_write_json(path, profile_dict(profile))
        job.store.replace_audio_profile(job.video_id, job.media_sha256, profile, job.archive.relpath(path))
        job.profile = profile
        detail = {"speech": round(profile.speech, 3), "music": round(profile.music, 3), "silence": round(profile.silence, 3),
                  "noise": round(profile.noise, 3), "speech_over_music": round(profile.speech_over_music, 3)}
        return StageOutcome(job.video_id, self.name, "done", profile.summary(), time.perf_counter() - t0, detail)
