"""Speech to timed text: engines behind one ``Transcriber`` protocol (base.py), windowed transcription
(windows.py), segment flags (flags.py), the model registry (models.py) and subtitle writers (subtitles.py)."""

from pipeline.asr.base import ENGINES, Segment, Transcriber, Transcript, Word, clear_cache, get_transcriber
from pipeline.asr.flags import flag_segment
from pipeline.asr.windows import transcribe

__all__ = ["ENGINES", "Segment", "Transcript", "Transcriber", "Word", "clear_cache", "flag_segment", "get_transcriber",
           "transcribe"]
