"""The job object and the ``Stage`` protocol.

A ``Job`` is one archived video on its way through the analysis stages. It decodes the audio at most once, into a
16 kHz mono float32 PCM file that every reader memory-maps (the audio profile, the transcription and its translation
pass), and it carries each stage's result in memory to the stages after it (the tagger reads the transcript and the
profile from the job, not back from the database). A stage that is skipped because its key is unchanged leaves its
slot empty; the next stage that needs that result loads it from the catalogue (``Job.load_*``).

A stage is a class with a ``name``, a ``key(job)`` — everything its output depends on: the media's SHA-256, the
stage's version, its parameters and the versions of the data it reads — and ``run(job, progress)``. Adding a stage
is one module plus one line in ``pipeline.stages.STAGES``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pipeline.config import Settings
from pipeline.errors import ClipwatchError, NoAudioError
from pipeline.media.audio import decode_pcm, open_pcm
from pipeline.media.profile import read_profile
from pipeline.tagging.model import transcript_from_store

log = logging.getLogger(__name__)

Progress = Callable[[float, float], None]


@dataclass
class StageOutcome:
    video_id: str
    stage: str
    status: str  # done | skipped | failed | not-applicable
    message: str = ""
    seconds: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Job:
    """One video through the stages: its catalogue row, its original, and the results passed between stages."""

    store: Any  # a Catalogue (pipeline.storage.base)
    archive: Any  # a BlobStore
    settings: Settings
    video_id: str
    force: bool = False
    video: Any = None
    media_path: Path = field(init=False)  # the original, set by __post_init__ (or it raises)
    # results handed from stage to stage
    profile: Any = None  # AudioProfile
    transcript: Any = None  # Transcript (original language)
    translation: Any = None  # Transcript (English), when made
    keyframes: Any = None  # KeyframeResult
    _pcm: Path | None = None
    _samples: np.ndarray | None = None
    _no_audio: str | None = None
    # the job whose decoded audio this one reads (``beside``): one decode, one PCM file, owned by that job
    _audio_of: "Job | None" = None
    _decoding: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # set once the audio profile stage, running beside this job's stages in another thread, is over
    profile_ready: threading.Event | None = None

    def __post_init__(self) -> None:
        self.video = self.store.get_video(self.video_id)
        self.video_id = self.video["id"]  # a unique prefix was accepted
        media = self.store.media_file(self.video["media_sha256"], self.video_id) if self.video["media_sha256"] else None
        if media is None:
            raise ClipwatchError(f"{self.video_id}: no archived media file; ingest it again")
        self.media_path = self.archive.abspath(media["path"])

    @property
    def media_sha256(self) -> str:
        return self.video["media_sha256"]

    @property
    def folder(self) -> Path:
        return self.archive.video_dir(self.video_id)

    def samples(self) -> np.ndarray:
        """The original's audio as 16 kHz mono float32, decoded on first use only, memory-mapped from then on.

        NoAudioError (every time) for a file without an audio track. Safe to call from two threads (a stage
        running ``beside`` the audio lane): the audio is decoded once.
        """

        if self._audio_of is not None:
            return self._audio_of.samples()
        with self._decoding:
            return self._decoded()

    def _decoded(self) -> np.ndarray:
        if self._no_audio is not None:
            raise NoAudioError(self._no_audio)
        if self._samples is None:
            pcm_dir = self.settings.data_dir / "cache" / "pcm"
            path = pcm_dir / f"{self.media_sha256}.{os.getpid()}.f32"
            try:
                decode_pcm(self.media_path, path)
            except NoAudioError as exc:
                self._no_audio = str(exc)
                raise
            self._pcm, self._samples = path, open_pcm(path)
        return self._samples

    def beside(self, store: Any) -> "Job":
        """The same video for a stage run in another thread beside this job's stages (``Stage.beside``): its own
        catalogue connection ``store``, this job's decoded audio (decoded at most once, released by this job) and
        audio profile.

        Arguments:
            store: A catalogue connection opened in the thread that will use the new job.

        Returns:
            The new Job.
        """
        other = Job(store, self.archive, self.settings, self.video_id, force=self.force)
        other._audio_of, other.profile = self, self.profile
        return other

    def detach_audio(self) -> tuple[Path | None, np.ndarray | None, str | None]:
        """Hand this job's decoded audio (and the PCM file it owns) to another job (``attach_audio``): a video's
        join stages, run in another thread after its audio lane, read the audio without decoding it again. This
        job no longer releases it."""
        with self._decoding:
            handle = (self._pcm, self._samples, self._no_audio)
            self._pcm, self._samples = None, None
            return handle

    def attach_audio(self, handle: tuple[Path | None, np.ndarray | None, str | None]) -> None:
        """Take the decoded audio ``detach_audio`` handed over (released by this job from now on)."""
        with self._decoding:
            self._pcm, self._samples, self._no_audio = handle

    def load_profile(self) -> Any:
        """The stored audio profile when the audio stage was skipped (None when there is none); while the stage runs
        beside this job (``profile_ready``), its result once it is over."""
        if self.profile_ready is not None:
            self.profile_ready.wait()
        if self.profile is None:

            row = self.store.audio_profile_row(self.video_id)
            if row is not None and row["media_sha256"] == self.media_sha256 and row["path"]:
                self.profile = read_profile(self.archive.abspath(row["path"]))
        return self.profile

    def load_transcripts(self) -> None:
        """The stored transcripts when the transcribe stage was skipped."""

        if self.transcript is None:
            self.transcript = transcript_from_store(self.store, self.video_id, "original")
        if self.translation is None:
            self.translation = transcript_from_store(self.store, self.video_id, "translation")

    def release(self) -> None:
        """Drop the decoded audio (the PCM file is a cache of this job only)."""
        self._samples = None
        if self._pcm is not None:
            self._pcm.unlink(missing_ok=True)
            self._pcm = None

    def __enter__(self) -> "Job":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class Stage(ABC):
    """One analysis step over a Job. Knows nothing of Prefect; the runner records its key and outcome."""

    name: str = ""
    # "media": reads only the pictures (shots, keyframes, their text): a flow runs it in the download worker,
    # beside Whisper. "asr": runs in the job that holds the decoded audio.
    pool: str = "asr"
    # True: runs after both of a video's lanes (pictures, and the audio job), because it reads what the other lane
    # made — copies reads keyframe hashes and the audio fingerprint; the tagger's key names every transcript,
    # text on screen included. A flow runs the audio lane beside the picture lane and these stages at the join.
    joins: bool = False
    # True: reads the decoded audio (and what the stages beside it before it left: the audio profile), never the
    # transcript, so a flow runs it in a side thread beside the audio lane (Whisper), in pipeline order with the
    # other such stages, on the same decoded samples (``Job.beside``). A lane stage that reads the profile waits for
    # it (``Job.load_profile``).
    beside: bool = False

    @abstractmethod
    def key(self, job: Job) -> str:
        """Everything the stage's output depends on; an unchanged key means the stage is skipped."""

    @abstractmethod
    def run(self, job: Job, progress: Progress | None = None) -> StageOutcome:
        """Do the work, store the result (catalogue + files) and leave it on the job for later stages."""

    skip_message: str = "already done"

    def warm(self, settings: Settings) -> None:
        """Load ahead of time what the stage loads first (model weights, heavy imports), so that its run does not
        wait for it. A flow calls it in a side thread while other work runs, and waits for it before the stage's
        run; an error here is left for the run to report. Nothing by default (and nothing for Whisper: a
        CTranslate2 model loaded in one thread and run in another was measured 5x slower).

        Arguments:
            settings: The run's settings (which model, which engine).
        """

    def needs(self) -> list[Any]:
        """The optional system components (``pipeline.components.Need``) this stage goes without on this machine.

        None by default. The runner lists them in every outcome, a skip for an unchanged key included, so a run's
        summary says what is missing however long ago the stage last ran.
        """
        return []


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=1)
