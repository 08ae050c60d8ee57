"""Transcript to English: translators behind one ``Translator`` protocol (base.py) — Whisper's own translate task
(whisper.py) or a text-translation model on CTranslate2 (ct2.py) — and the translation models pulled from the hub
(models.py)."""

from pipeline.translate.base import TRANSLATORS, Translator, get_translator, parse_translator

__all__ = ["TRANSLATORS", "Translator", "get_translator", "parse_translator"]
