"""Multi-label category tagging: news, music, propaganda — scored and explained.

``tag_video(TaggingInput) -> TaggingResult``. Each category has its own
logistic regression over the same signal features (``FEATURES``): the channel
registry (``signals.source``), platform categories, lexicon hits in the
metadata and in the transcript / English translation (``signals.text``), and the
music / speech / silence shares of the audio (``signals.audio`` over ``pipeline.media.profile``). The score is
the regression's probability; the decision is ``score >= threshold``; the
evidence is each feature's contribution ``weight × value`` in log-odds, largest
first ("propaganda 0.91: channel in registry: KCTV (+2.1), 7 leader honorifics
in speech (+1.4), …").

Weights ship in ``pipeline/data/tagging_model.json`` (trained by
``bench/tagging.py --train``); ``clipwatch tags retrain LABELS.csv`` fits new
ones on a user's labelled videos (``fit_model``, numpy only), used when
``CLIPWATCH_TAGGING_MODEL`` points at them. Human corrections
(``set_human_tag``) are stored with origin='human' and are never replaced by a
re-run.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from pipeline.asr import Segment, Transcript
from pipeline.errors import ClipwatchError, ConfigError, MediaError, ModelError, NotFoundError
from pipeline.media.profile import AudioProfile, analyse_audio, read_profile
from pipeline.storage.facts import attest
from pipeline.tagging.signals import text as textsig
from pipeline.tagging.signals.base import signals
from pipeline.tagging.signals.source import load_registry
from pipeline.tagging.signals.text import TEXT_GROUPS  # noqa: F401  (re-exported: the lexicon groups)

log = logging.getLogger(__name__)

CATEGORIES = ("news", "music", "propaganda")

# Feature name -> signal it belongs to, from the signal registry. Order is the model's column order.
FEATURES: dict[str, str] = {f: sig.name for sig in signals() for f in sig.features}
SIGNALS = tuple(sig.name for sig in signals())
# Which features each category's regression may use. Keeping the lists to what
# an analyst would accept as evidence stops the fit from learning accidents of
# the training mix (say, "music words" -> propaganda because many songs in the
# labelled set were revolutionary songs).
_FORM = ["cat_news", "cat_music", "cat_other", "meta_news", "meta_music", "has_speech_text", "sp_words", "sp_news",
         "sp_music", "has_audio", "a_music", "a_speech", "a_silence", "a_noise"]
CATEGORY_FEATURES: dict[str, list[str]] = {
    "news": _FORM,
    "music": _FORM,
    "propaganda": ["src_registry", "src_affiliated", "meta_honorific", "meta_leader_name", "meta_ideology", "meta_epithet",
                   "has_speech_text", "sp_words", "sp_honorific", "sp_leader_name", "sp_ideology", "sp_epithet", "sp_prop_density"],
}
# Presence indicators shift the baseline when a signal is missing; they are not shown as evidence.
BASELINE_FEATURES = {"has_audio", "has_speech_text"}


def _model_version() -> str:
    """Version of the weights tag_video uses now, plus the lexicon and registry it reads (for stage caching)."""
    try:
        version = load_model().version
    except ClipwatchError:
        version = "untrained"
    try:
        lex = textsig.load_lexicon().version
        reg = load_registry().version
    except (ClipwatchError, OSError, ValueError):
        lex = reg = "?"
    return f"{version}+lex{lex}+reg{reg}"


def __getattr__(name: str) -> str:  # MODEL_VERSION is computed on access: it follows CLIPWATCH_TAGGING_MODEL
    if name == "MODEL_VERSION":
        return _model_version()
    raise AttributeError(name)


@dataclass
class TaggingInput:
    title: str | None
    description: str | None
    channel: str | None
    channel_url: str | None
    uploader: str | None
    webpage_url: str | None
    platform_tags: list[str]
    categories: list[str]  # yt-dlp's `categories`, e.g. "News & Politics"
    transcript: Transcript | None = None  # original-language transcript
    translation: Transcript | None = None  # English translation when the original is not English
    audio_path: Path | None = None  # media file to analyse for music/speech/silence (None: skip the audio signal)
    audio: AudioProfile | None = None  # the stored profile, when the pipeline made one (then audio_path is not read)
    channel_id: str | None = None  # the platform's channel id (yt-dlp's channel_id): the registry matches it, and URLs


@dataclass
class Tag:
    category: str
    score: float
    decision: bool
    evidence: list[str]


@dataclass
class TaggingResult:
    tags: list[Tag]
    model_version: str
    audio: AudioProfile | None  # music/speech/silence shares and per-span labels
    features: dict[str, float] = field(default_factory=dict)

    def tag(self, category: str) -> Tag:
        return next(t for t in self.tags if t.category == category)


# -- features ------------------------------------------------------------------

def extract_features(inp: TaggingInput, audio: AudioProfile | None) -> tuple[dict[str, float], dict[str, str]]:
    """Feature values from every registered signal and, for the non-zero ones, a description for the evidence."""
    x = {k: 0.0 for k in FEATURES}
    why: dict[str, str] = {}
    for sig in signals():
        for key, (value, evidence) in sig.extract(inp, audio).items():
            x[key], why[key] = value, evidence
    return x, why


# -- model ---------------------------------------------------------------------

@dataclass
class CategoryModel:
    bias: float
    weights: dict[str, float]
    threshold: float = 0.5


@dataclass
class TaggingModel:
    version: str
    features: list[str]
    categories: dict[str, CategoryModel]
    trained_on: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version, "trained_on": self.trained_on, "features": self.features,
            "categories": {c: {"bias": round(m.bias, 4), "threshold": round(m.threshold, 3),
                               "weights": {k: round(v, 4) for k, v in m.weights.items()}}
                           for c, m in self.categories.items()},
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "TaggingModel":
        cats = {c: CategoryModel(float(m["bias"]), {k: float(v) for k, v in m["weights"].items()}, float(m.get("threshold", 0.5)))
                for c, m in d["categories"].items()}
        return cls(d["version"], list(d["features"]), cats, d.get("trained_on", ""))

    def save(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)


def shipped_model_path() -> Path:
    return Path(str(resources.files("pipeline").joinpath("data/tagging_model.json")))


def load_model(path: Path | None = None) -> TaggingModel:
    """The given file, else CLIPWATCH_TAGGING_MODEL, else the weights shipped with clipwatch."""
    p = Path(path) if path else Path(os.environ["CLIPWATCH_TAGGING_MODEL"]) if os.environ.get("CLIPWATCH_TAGGING_MODEL") else shipped_model_path()
    try:
        return TaggingModel.from_json(json.loads(p.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"tagging model {p} is missing or unreadable ({exc}); retrain with `clipwatch tags retrain` or unset CLIPWATCH_TAGGING_MODEL") from exc


def score(model: TaggingModel, x: dict[str, float], why: dict[str, str] | None = None, max_evidence: int = 6) -> list[Tag]:
    why = why or {}
    tags = []
    for cat in CATEGORIES:
        m = model.categories.get(cat)
        if m is None:
            continue
        contrib = {k: m.weights.get(k, 0.0) * x.get(k, 0.0) for k in model.features}
        z = m.bias + sum(contrib.values())
        p = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
        top = sorted((kv for kv in contrib.items() if abs(kv[1]) >= 0.05 and kv[0] not in BASELINE_FEATURES),
                     key=lambda kv: -abs(kv[1]))[:max_evidence]
        evidence = [f"{why.get(k, k)} ({v:+.1f})" for k, v in top]
        if not evidence:
            evidence = ["no signal: prior only"]
        tags.append(Tag(cat, round(p, 4), p >= m.threshold, evidence))
    return tags


def tag_video(inp: TaggingInput, *, model_path: Path | None = None) -> TaggingResult:
    """Score news / music / propaganda for one video, with the evidence for each score."""
    model = load_model(model_path)
    audio = inp.audio
    if audio is None and inp.audio_path is not None:
        try:
            audio = analyse_audio(Path(inp.audio_path))
        except MediaError as exc:  # no audio track, or undecodable: tag from the other signals
            log.info("tagging %s without the audio signal: %s", inp.audio_path, exc)
    x, why = extract_features(inp, audio)
    version = f"{model.version}+lex{textsig.load_lexicon().version}+reg{load_registry().version}"
    return TaggingResult(score(model, x, why), version, audio, x)


# -- training (numpy; used by `clipwatch tags retrain` and bench/tagging.py) -----

def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 50) -> tuple[float, np.ndarray]:
    """L2-regularised logistic regression by Newton's method; the bias is not penalised."""
    n, d = X.shape
    A = np.hstack([np.ones((n, 1)), X])
    w = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[0] = 1e-6
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(A @ w, -50, 50)))
        g = A.T @ (p - y) + reg * w
        H = (A * (p * (1 - p))[:, None]).T @ A + np.diag(reg)
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return float(w[0]), w[1:]


def fit_model(rows: list[dict[str, float]], labels: list[dict[str, bool | None]], *, features: Iterable[str] | None = None,
              l2: float = 1.0, version: str = "custom", trained_on: str = "") -> TaggingModel:
    """Fit one logistic regression per category over its CATEGORY_FEATURES (restricted to ``features``
    when given); a None label leaves that row out of that category."""
    allowed = set(features or FEATURES)
    cats = {}
    for cat in CATEGORIES:
        feats = [f for f in CATEGORY_FEATURES[cat] if f in allowed]
        idx = [i for i, lab in enumerate(labels) if lab.get(cat) is not None]
        ys = np.array([float(bool(labels[i][cat])) for i in idx])
        if len(idx) < 4 or ys.min() == ys.max():
            raise ConfigError(f"cannot train '{cat}': need labelled videos of both kinds (have {int(ys.sum()) if len(idx) else 0} yes, {len(idx) - int(ys.sum()) if len(idx) else 0} no)")
        X = np.array([[rows[i].get(f, 0.0) for f in feats] for i in idx])
        b, w = fit_logistic(X, ys, l2)
        cats[cat] = CategoryModel(b, {f: float(v) for f, v in zip(feats, w)}, 0.5)
    return TaggingModel(version, [f for f in FEATURES if f in allowed], cats, trained_on)


# -- store helpers ---------------------------------------------------------------

def set_human_tag(store, video_id: str, category: str, value: bool, note: str | None = None) -> None:
    """Record a human decision for one category; kept over any model re-run."""
    if category not in CATEGORIES:
        raise ConfigError(f"unknown category {category!r}; choose one of: {', '.join(CATEGORIES)}")
    if store.find_video(video_id) is None:
        raise NotFoundError(f"no video {video_id!r} in the archive; see `clipwatch list`")
    with store.transaction():  # the tag and its digest in the chain, together
        store.set_human_tag(video_id, category, value, [f"set by a person{': ' + note if note else ''}"])
        attest(store, video_id, cause=f"human tag {category}={'yes' if value else 'no'}")


def clear_human_tag(store, video_id: str, category: str) -> bool:
    with store.transaction():
        gone = store.clear_human_tag(video_id, category)
        if gone:
            attest(store, video_id, cause=f"human tag {category} cleared")
    return gone


def transcript_from_store(store, video_id: str, kind: str) -> Transcript | None:
    """A stored transcript ("original" or "translation") as a Transcript, or None."""

    row = next((r for r in store.transcript_rows(video_id) if r["kind"] == kind), None)
    if row is None:
        return None
    segs = [Segment(s["start"], s["end"], s["text"], s["avg_logprob"], s["no_speech_prob"], s["compression_ratio"],
                    [f for f in (s["flags"] or "").split(",") if f]) for s in store.segments(video_id, kind)]
    return Transcript(row["language"], row["language_probability"], row["duration"] or 0.0, row["model"], row["engine"],
                      row["engine_version"] or "", "translate" if kind == "translation" else "transcribe", segs)


def input_from_video(v, transcript: Transcript | None, translation: Transcript | None,
                     audio: AudioProfile | None = None, audio_path: Path | None = None) -> TaggingInput:
    """A TaggingInput from a catalogue row of ``videos`` and the results the pipeline holds for it."""
    return TaggingInput(
        title=v["title"], description=v["description"], channel=v["channel"], channel_url=v["channel_url"],
        uploader=v["uploader"], webpage_url=v["webpage_url"] or v["source_url"],
        platform_tags=json.loads(v["platform_tags"] or "[]"), categories=json.loads(v["categories"] or "[]"),
        transcript=transcript, translation=translation, audio=audio, audio_path=audio_path,
        channel_id=v["channel_id"] if "channel_id" in v.keys() else None,
    )


def input_from_store(store, video_id: str, archive_dir: Path | None = None, with_audio: bool = True) -> TaggingInput:
    """Rebuild a TaggingInput from what the archive holds for a video (the stored audio profile if there is one)."""
    v = store.find_video(video_id)
    if v is None:
        raise NotFoundError(f"no video {video_id!r} in the archive; see `clipwatch list`")
    audio, audio_path = None, None
    if with_audio and archive_dir is not None and v["media_sha256"]:
        row = store.audio_profile_row(video_id)
        if row is not None and row["media_sha256"] == v["media_sha256"] and row["path"]:
            audio = read_profile(Path(archive_dir) / row["path"])
        mf = store.media_file(v["media_sha256"])
        if audio is None and mf is not None and (Path(archive_dir) / mf["path"]).is_file():
            audio_path = Path(archive_dir) / mf["path"]
    return input_from_video(v, transcript_from_store(store, video_id, "original"),
                            transcript_from_store(store, video_id, "translation"), audio, audio_path)


def read_labels(path: Path) -> dict[str, dict[str, bool | None]]:
    """LABELS.csv: a video_id column and one column per category (1/0, yes/no, true/false; blank = unknown)."""
    truthy, falsy = {"1", "yes", "y", "true", "t"}, {"0", "no", "n", "false", "f"}
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or "video_id" not in reader.fieldnames:
                raise ConfigError(f"{path}: needs a header with video_id and one of: {', '.join(CATEGORIES)}")
            out: dict[str, dict[str, bool | None]] = {}
            for n, row in enumerate(reader, start=2):
                labs: dict[str, bool | None] = {}
                for c in CATEGORIES:
                    v = (row.get(c) or "").strip().lower()
                    if v and v not in truthy | falsy:
                        raise ConfigError(f"{path}:{n}: {c}={row.get(c)!r} is not 1/0, yes/no or true/false")
                    labs[c] = None if not v else v in truthy
                out[row["video_id"].strip()] = labs
            return out
    except OSError as exc:
        raise ConfigError(f"cannot read labels {path}: {exc.strerror}") from exc


def retrain(store, labels_csv: Path, out: Path, archive_dir: Path | None = None, with_audio: bool = True,
            progress=None) -> tuple[TaggingModel, dict[str, tuple[int, int]]]:
    """Fit new weights on the labelled videos of an archive and write them to ``out``."""
    labels = read_labels(labels_csv)
    rows, labs = [], []
    for vid, lab in labels.items():
        inp = input_from_store(store, vid, archive_dir, with_audio)
        audio = None
        if inp.audio_path is not None:
            try:
                audio = analyse_audio(inp.audio_path)
            except MediaError as exc:
                log.warning("%s: audio skipped: %s", vid, exc)
        rows.append(extract_features(inp, audio)[0])
        labs.append(lab)
        if progress:
            progress(vid)
    model = fit_model(rows, labs, version=f"custom-{Path(labels_csv).stem}", trained_on=f"{len(rows)} videos from {Path(labels_csv).name}")
    model.save(out)
    counts = {c: (sum(1 for l in labs if l[c]), sum(1 for l in labs if l[c] is False)) for c in CATEGORIES}
    return model, counts


__all__ = [
    "CATEGORIES", "FEATURES", "Tag", "TaggingInput", "TaggingModel", "TaggingResult", "ClipwatchError",
    "extract_features", "fit_model", "input_from_store", "load_model", "retrain", "score", "set_human_tag", "tag_video",
]
