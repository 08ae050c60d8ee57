"""The tagging seam: a signal turns one kind of evidence about a video into named features, each with the words
an analyst reads as evidence ("channel in registry: KCTV", "3 leader honorifics in speech (…)").

A signal is a class with a ``name``, the ``features`` it can set (in the model's column order) and ``extract``;
the combiner (``pipeline.tagging.model``) weighs the features per category. Adding a signal is one module plus
one line in ``SIGNALS`` (and retraining the weights, which give a new feature 0 weight until then).
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from typing import Any

from pipeline.registry import Registry

# name -> "module:Class", in the model's column order.
SIGNALS: Registry[type[Signal]] = Registry("tagging signal", {
    "source": "pipeline.tagging.signals.source:SourceSignal",
    "metadata": "pipeline.tagging.signals.text:MetadataSignal",
    "transcript": "pipeline.tagging.signals.text:TranscriptSignal",
    "audio": "pipeline.tagging.signals.audio:AudioSignal",
})


class Signal(ABC):
    name: str = ""
    features: tuple[str, ...] = ()

    @abstractmethod
    def extract(self, inp: Any, audio: Any) -> dict[str, tuple[float, str]]:
        """feature -> (value, evidence) for the features this video sets; features left out are 0."""


@functools.lru_cache(maxsize=1)
def signals() -> tuple[Signal, ...]:
    """One instance of every registered signal, in ``SIGNALS`` order (made once per process)."""
    return tuple(cls() for cls in SIGNALS.values())
