"""A tiny, randomly initialised translation model for offline tests: no translation weights ship in the package
registries, so the translator's plumbing is tested on a model of the right *format* whose output is noise.

:func:`build_opus_mt` writes what an OPUS-MT release holds (a Marian ``model.npz`` with its config, ``decoder.yml``,
the vocabulary ``.yml`` and SentencePiece ``source.spm`` / ``target.spm``); the SentencePiece model is trained here on
a few lines of Korean and English. CTranslate2's own converter (``OpusMTConverter``) turns it into a CTranslate2
model, as ``clipwatch models pull`` does for a repository that ships Marian weights.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

TRAINING_LINES = [
    "기차도 전기도 없었다", "조선중앙통신사 보도", "인민들의 생활이 날로 향상되고 있다", "오늘 평양의 날씨는 맑겠습니다",
    "경애하는 원수님께서 공장을 현지지도하시였다", "there were no trains and no electricity", "the weather in the capital",
    "the people's living standards are rising", "the leader gave field guidance at the factory", "news from the agency",
]


def train_sentencepiece(prefix: Path, lines: list[str] = TRAINING_LINES, vocab_size: int = 120) -> Path:
    """A SentencePiece model trained on ``lines``; ids as Marian numbers them (</s> 0, <unk> 1)."""
    import sentencepiece as spm

    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines * 4), model_prefix=str(prefix), vocab_size=vocab_size,
                                   character_coverage=1.0, model_type="unigram", eos_id=0, unk_id=1, bos_id=-1,
                                   pad_id=-1, hard_vocab_limit=False, minloglevel=2)
    return prefix.with_suffix(".model")


def _marian_weights(vocab: int, dim: int, ffn: int, layers: int, heads: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def w(*shape):
        return (rng.standard_normal(shape) * 0.1).astype(np.float32)

    out = {"Wemb": w(vocab, dim), "decoder_ff_logit_out_b": w(1, vocab)}
    blocks = {"encoder": ("self",), "decoder": ("self", "context")}
    for side, attentions in blocks.items():
        for i in range(1, layers + 1):
            for att in attentions:
                scope = f"{side}_l{i}_{att}"
                for p in "qkvo":
                    out[f"{scope}_W{p}"], out[f"{scope}_b{p}"] = w(dim, dim), w(1, dim)
                out[f"{scope}_Wo_ln_scale"], out[f"{scope}_Wo_ln_bias"] = np.ones((1, dim), np.float32), w(1, dim)
            scope = f"{side}_l{i}_ffn"
            out[f"{scope}_W1"], out[f"{scope}_b1"] = w(dim, ffn), w(1, ffn)
            out[f"{scope}_W2"], out[f"{scope}_b2"] = w(ffn, dim), w(1, dim)
            out[f"{scope}_ffn_ln_scale"], out[f"{scope}_ffn_ln_bias"] = np.ones((1, dim), np.float32), w(1, dim)
    config = {"type": "transformer", "enc-depth": layers, "dec-depth": layers, "transformer-heads": heads,
              "transformer-dim-ffn": ffn, "dim-emb": dim, "transformer-ffn-activation": "swish",
              "transformer-decoder-autoreg": "self-attention", "transformer-no-projection": False,
              "transformer-preprocess": "", "transformer-postprocess": "dan", "transformer-postprocess-emb": "d",
              "transformer-guided-alignment-layer": "last", "tied-embeddings-all": True}
    out["special:model.yml"] = np.frombuffer(json.dumps(config).encode() + b"\0", dtype=np.int8)
    return out


def build_opus_mt(folder: Path, *, dim: int = 16, ffn: int = 32, layers: int = 1, heads: int = 2, seed: int = 0) -> Path:
    """An OPUS-MT release folder of a random Marian transformer over a SentencePiece vocabulary trained here."""
    import sentencepiece as spm

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = train_sentencepiece(folder / "spm")
    sp = spm.SentencePieceProcessor(model_file=str(model))
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    # JSON strings are YAML strings; CTranslate2's reader parses one "token: id" per line.
    (folder / "vocab.yml").write_text("".join(f"{json.dumps(p, ensure_ascii=False)}: {i}\n" for i, p in enumerate(pieces)),
                                      encoding="utf-8")
    for name in ("source.spm", "target.spm"):
        (folder / name).write_bytes(model.read_bytes())
    model.unlink()
    folder.joinpath("spm.vocab").unlink(missing_ok=True)
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=True, **_marian_weights(len(pieces), dim, ffn, layers, heads, seed))
    (folder / "model.npz").write_bytes(buf.getvalue())
    (folder / "decoder.yml").write_text("models:\n  - model.npz\nvocabs:\n  - vocab.yml\n  - vocab.yml\n")
    return folder
