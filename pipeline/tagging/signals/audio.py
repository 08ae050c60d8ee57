"""The audio tagging signal: shares of speech, music, silence and noise from the video's audio profile.

The profile itself (the speech/music classifier, ``AudioProfile``, ``read_profile``) is ``pipeline.media.profile``.
"""

from __future__ import annotations

from pipeline.tagging.signals.base import Signal


class AudioSignal(Signal):
    """Shares of speech, music, silence and noise in the audio profile."""

    name = "audio"
    features = ("has_audio", "a_music", "a_speech", "a_silence", "a_noise")

    def extract(self, inp, audio):
        if audio is None or audio.duration <= 0:
            return {}
        out = {"has_audio": (1.0, f"audio analysed ({audio.duration:.0f} s)")}
        for lab in ("music", "speech", "silence", "noise"):
            share = float(getattr(audio, lab, 0.0))
            out[f"a_{lab}"] = (share, f"{share:.0%} of audio is {lab}")
        if getattr(audio, "speech_over_music", 0.0):
            value, why = out["a_speech"]
            out["a_speech"] = (value, why + f" ({audio.speech_over_music:.0%} over music)")
        return out
