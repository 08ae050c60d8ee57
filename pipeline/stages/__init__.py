"""Analysis stages over one job per video (base.py), in pipeline order; the runner records keys and outcomes.

Adding a stage is one module with a ``Stage`` subclass plus one line in ``STAGES``.
"""

from pipeline.stages.audio import AudioProfileStage
from pipeline.stages.base import Job, Stage, StageOutcome
from pipeline.stages.copies import CopiesStage
from pipeline.stages.keyframes import KeyframesStage
from pipeline.stages.screen_text import ScreenTextStage
from pipeline.stages.speakers import SpeakersStage
from pipeline.stages.tag import TagStage
from pipeline.stages.transcribe import TranscribeStage

# Pipeline order: copies and screen text after the keyframes they read; the audio profile before the transcript
# (its flags read the profile), the tagger last.
STAGES: tuple[type[Stage], ...] = (KeyframesStage, CopiesStage, ScreenTextStage, AudioProfileStage, TranscribeStage,
                                   SpeakersStage, TagStage)

__all__ = ["STAGES", "Job", "Stage", "StageOutcome"]
