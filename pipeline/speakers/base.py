"""The speaker-encoder seam: a protocol for turning speech into voice embeddings, and its registry.

An encoder maps 16 kHz mono float32 speech to L2-normalised vectors, one per analysis window, such that two windows
of the same voice are closer (cosine) than two windows of different voices. Adding an encoder is one module with a
class that has the attributes and method below, plus one line in ``ENCODERS``.
"""

from __future__ import annotations

import importlib
from typing import Iterable, Protocol, runtime_checkable

import numpy as np

from pipeline.errors import ConfigError


@runtime_checkable
class SpeakerEncoder(Protocol):
    """Voice embeddings over windows of speech.

    Attributes:
        name: the registry name (``ge2e``).
        version: changes whenever the weights or the features change (it is in the stage's key).
        dim: the embedding size.
        window_s: the length of one analysis window in seconds.
    """

    name: str
    version: str
    dim: int
    window_s: float

    def embed_windows(self, samples: np.ndarray, starts: np.ndarray, gain: float = 1.0) -> np.ndarray:
        """Embed the windows of ``samples`` that start at the sample offsets ``starts``.

        Arguments:
            samples: 16 kHz mono float32 audio (a window running past the end is padded with zeros); may be a
                memory map of hours, which the encoder reads in bounded blocks, never whole.
            starts: sample offsets, one per window.
            gain: multiplies the samples before analysis (the caller's volume normalisation).

        Returns:
            A float32 array of shape (len(starts), dim), each row L2-normalised.
        """

    def embed_regions(self, regions: Iterable[tuple[np.ndarray, np.ndarray, float]]) -> list[np.ndarray]:
        """``embed_windows`` over several regions at once, so that a network can batch windows across them.

        Arguments:
            regions: (samples, starts, gain) per region, each as ``embed_windows`` takes them.

        Returns:
            One array per region, in order, as ``embed_windows`` returns it.
        """


# name -> "module:Class"; imported on first use so that the encoder's weights load only when needed.
ENCODERS: dict[str, str] = {
    "ge2e": "pipeline.speakers.ge2e:GE2EEncoder",
}
DEFAULT_ENCODER = "ge2e"


def get_encoder(name: str = DEFAULT_ENCODER) -> SpeakerEncoder:
    """The encoder registered as ``name``, loaded.

    Arguments:
        name: a key of ``ENCODERS``.

    Returns:
        A ready encoder. ConfigError for an unknown name; MissingEncoder when its weights are not installed.
    """
    target = ENCODERS.get(name)
    if target is None:
        raise ConfigError(f"unknown speaker encoder {name!r}; choose one of: {', '.join(sorted(ENCODERS))}")
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)()


class MissingEncoder(ConfigError):
    """The encoder's weights are not installed: the speakers stage is skipped with this message."""
