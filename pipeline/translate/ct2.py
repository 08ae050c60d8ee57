"""A text-translation model on CTranslate2 (``--translator ct2:NAME``): the original transcript's segment texts,
cut by the model's SentencePiece tokenizer, translated in batches; each English line keeps its segment's times and
flags, so a search hit in the translation points at the same second of the video as the Korean line."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from pipeline.asr.base import Segment, Transcript, choose_device
from pipeline.asr.flags import mark_clause_loops
from pipeline.models import translation as models
from pipeline.translate.base import Translator

BATCH = 32          # segments per CTranslate2 batch (sorted by length inside the batch by CTranslate2)
BEAM_SIZE = 4
MAX_TOKENS = 512    # a translation longer than this is a loop, whatever the input


@functools.lru_cache(maxsize=2)
def _load(path: str, device: str):
    """One loaded model per folder and device: a flow translates many videos in one process."""
    import ctranslate2  # heavy (~0.5 s): only when a model runs
    import sentencepiece as spm

    folder = models.describe(path)
    translator = ctranslate2.Translator(path, device=device, compute_type="auto")
    source = spm.SentencePieceProcessor(model_file=str(folder.source_spm))
    target = spm.SentencePieceProcessor(model_file=str(folder.target_spm))
    config = json.loads((folder.path / "config.json").read_text())
    return folder, translator, source, target, config


class CT2Translator(Translator):
    kind = "ct2"

    def __init__(self, model: str | None, settings: Any) -> None:
        self.model = str(model)
        folder = models.resolve(self.model, settings.models_dir)  # ModelError when it is not pulled
        self.device = choose_device(settings.device)
        self.folder, self.translator, self.source_sp, self.target_sp, self.config = _load(str(folder.path), self.device)

    @property
    def name(self) -> str:
        return f"ct2:{self.model}"

    def refuses(self, original) -> str | None:
        lang = original.language
        if self.folder.family == "nllb":
            return None if lang in models.NLLB_CODES else f"{self.model} has no language code for {lang!r} here"
        reads = models.sources(self.model)
        if reads is not None and lang not in reads:
            return f"{self.model} translates {', '.join(reads)} only, not {lang!r}"
        return None

    def _source_tokens(self, text: str, lang: str | None) -> list[str]:
        pieces = self.source_sp.encode(text, out_type=str)
        if not self.config.get("add_source_eos"):  # CTranslate2 adds it itself to models converted from Marian
            pieces.append("</s>")
        if self.folder.family == "nllb":  # NLLB reads the source language as a first token
            return [models.NLLB_CODES.get(lang or "", "kor_Hang"), *pieces]
        return pieces

    def translate_texts(self, texts: list[str], language: str | None) -> list[str]:
        """English for each text, in order; a text without words ("♪♪", "...") is kept as it is."""
        todo = [i for i, t in enumerate(texts) if re.search(r"\w", t or "")]
        out = [(t or "").strip() for t in texts]
        if not todo:
            return out
        batch = [self._source_tokens(texts[i].strip(), language) for i in todo]
        prefix = [[models.NLLB_CODES["en"]]] * len(batch) if self.folder.family == "nllb" else None
        longest = max(len(b) for b in batch)
        results = self.translator.translate_batch(batch, target_prefix=prefix, max_batch_size=BATCH,
                                                  beam_size=BEAM_SIZE,
                                                  max_decoding_length=min(MAX_TOKENS, 3 * longest + 16))
        for i, res in zip(todo, results):
            hyp = res.hypotheses[0]
            if prefix is not None and hyp[:1] == prefix[0]:
                hyp = hyp[1:]
            out[i] = self.target_sp.decode(hyp).strip()
        return out

    def translate(self, original, audio=None):
        import ctranslate2  # heavy (~0.5 s): only when a model runs

        english = self.translate_texts([s.text for s in original.segments], original.language)
        segments = [Segment(s.start, s.end, f" {text}" if text else "", flags=list(s.flags))
                    for s, text in zip(original.segments, english)]
        for seg in segments:  # nothing said, nothing translated: as the original's flags say
            if not seg.text.strip() and not seg.flags:
                seg.flags.append("silence")
        # Translation models loop too. An English line repeating the line before is an echo of the model's making
        # unless the original line repeated its predecessor as well (then the original's own flags, carried over,
        # say whether that was heard or looped).
        said = [" ".join(s.text.split()) for s in original.segments]
        mark_clause_loops(segments, confirm=lambda k: k == 0 or said[k] != said[k - 1])
        return Transcript(language="en", language_probability=None, duration=original.duration, model=self.model,
                          engine="ctranslate2", engine_version=ctranslate2.__version__, task="translate",
                          segments=segments)
