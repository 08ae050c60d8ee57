"""The translation seam: the ``Translator`` protocol and the registry of translators.

A translator turns a video's original transcript into an English one, segment for segment, stored beside it as the
"translation" (the same table, the same searching). ``--translator`` (``CLIPWATCH_TRANSLATOR``) names one:

* ``whisper`` -- Whisper's translate task, a second pass over the audio with the transcription model (the default;
  nothing to install, poor on real Korean with ``base``);
* ``ct2:NAME`` -- a text-translation model on CTranslate2 (``clipwatch models pull NAME``), fed the original
  segments' text: same segment times, the original's flags carried over.

A translator is one module with one ``Translator`` subclass plus one line in ``TRANSLATORS`` (kind ->
"module:Class"), imported on first use.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from pipeline.config import DEFAULT_TRANSLATOR, parse_translator
from pipeline.registry import Registry

if TYPE_CHECKING:
    import numpy as np

    from pipeline.asr.base import Transcript

# kind -> "module:Class"; the first is the default. The kinds are also pipeline.config.TRANSLATOR_KINDS, which
# parses a spec (``parse_translator``, re-exported here) without importing a translator.
TRANSLATORS: Registry[type[Translator]] = Registry("translator", {
    "whisper": "pipeline.translate.whisper:WhisperTranslator",
    "ct2": "pipeline.translate.ct2:CT2Translator",
})

__all__ = ["DEFAULT_TRANSLATOR", "TRANSLATORS", "Translator", "get_translator", "parse_translator",
           "recorded_translator", "translator_class"]


class Translator(ABC):
    """A loaded translator. ``translate`` returns the English transcript of ``original`` (task "translate")."""

    kind: str = ""

    @abstractmethod
    def __init__(self, model: str | None, settings: Any) -> None:
        """Load the translator (what ``get_translator`` calls).

        Arguments:
            model: the model ``spec`` names after the kind (None: the kind's default).
            settings: a ``Settings`` (the Whisper model/engine, the model cache, the device).
        """

    @property
    @abstractmethod
    def name(self) -> str:
        """What the record says made the translation: ``whisper`` or ``ct2:NAME``."""

    def refuses(self, original: Transcript) -> str | None:
        """Why this translator cannot translate ``original`` (a language it does not read), or None."""
        return None

    @abstractmethod
    def translate(self, original: Transcript, audio: np.ndarray | None = None) -> Transcript: ...


def translator_class(kind: str) -> type[Translator]:
    """The ``Translator`` class registered for ``kind``; ConfigError naming the kinds for an unknown one."""
    return TRANSLATORS.load(kind)


def get_translator(spec: str, settings: Any) -> Translator:
    """The translator ``spec`` names, loaded (ModelError now, before anything is written, when its model is missing).

    ``settings`` gives the Whisper model/engine, the model cache and the device (a ``Settings``).
    """
    kind, model = parse_translator(spec)
    return translator_class(kind)(model, settings)


def recorded_translator(engine: str | None, model: str | None) -> str:
    """The translator named by a stored transcript's engine and model (``ct2:NAME`` or ``whisper``)."""
    return f"ct2:{model}" if engine == "ctranslate2" else "whisper"
