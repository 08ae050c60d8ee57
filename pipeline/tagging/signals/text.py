"""Lexicon and keyword hits in English and Korean text (metadata and transcripts).

Term lists live in ``pipeline/data/propaganda_lexicon.toml`` (leader honorifics,
leader names, ideological terms, hostile epithets) and
``pipeline/data/category_keywords.toml`` (news and music cue words).
English terms match case-insensitively on word boundaries with spaces and
hyphens interchangeable; Korean terms match as substrings with optional spaces
between syllables. Overlapping hits count once, the longest term winning.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import tomllib
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pipeline.tagging.signals.base import Signal

LEXICON_FILES = ("data/propaganda_lexicon.toml", "data/category_keywords.toml")
# Order matters only for reporting; every group is a feature.
GROUPS = ("honorific", "leader_name", "ideology", "epithet", "news", "music")

_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_WORD = re.compile(r"\w+")


def _term_pattern(term: str) -> re.Pattern[str]:
    term = unicodedata.normalize("NFC", term.strip())
    if _HANGUL.search(term):
        chars = [re.escape(c) for c in term if not c.isspace()]
        return re.compile(r"\s*".join(chars))
    parts = [re.escape(p) for p in re.split(r"[\s\-]+", term) if p]
    body = r"[\s\-]*".join(parts)
    return re.compile(r"(?<!\w)" + body + r"(?!\w)", re.IGNORECASE)


@dataclass(frozen=True)
class Lexicon:
    version: str
    descriptions: dict[str, str]
    # (group, term, pattern), longest term first
    terms: tuple[tuple[str, str, re.Pattern[str]], ...]
    # the same plus the groups' title_en / title_ko terms: words that mean the category in a title, description
    # or tag ("music", "news") but not in speech ("good news", "I like music")
    metadata_terms: tuple[tuple[str, str, re.Pattern[str]], ...] = ()


@functools.lru_cache(maxsize=2)
def load_lexicon(paths: tuple[str, ...] | None = None) -> Lexicon:
    files = [Path(p) for p in paths] if paths else [Path(str(resources.files("pipeline").joinpath(f))) for f in LEXICON_FILES]
    versions, desc, terms, title_terms = [], {}, [], []
    for f in files:
        text = f.read_text(encoding="utf-8")
        data = tomllib.loads(text)
        # The stated version plus a digest: an edited term list re-tags even if the version was not bumped.
        versions.append(f"{data.get('version', '?')}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:8]}")
        for group, spec in data.get("groups", {}).items():
            desc[group] = spec.get("description", group)
            for lang in ("en", "ko"):
                for term in spec.get(lang, []):
                    terms.append((group, term, _term_pattern(term)))
                for term in spec.get(f"title_{lang}", []):
                    title_terms.append((group, term, _term_pattern(term)))
    terms.sort(key=lambda t: -len(t[1].replace(" ", "")))
    meta = sorted(terms + title_terms, key=lambda t: -len(t[1].replace(" ", "")))
    return Lexicon("+".join(versions), desc, tuple(terms), tuple(meta))


@dataclass
class TextHits:
    words: int = 0
    counts: Counter = field(default_factory=Counter)  # group -> hits
    terms: dict[str, Counter] = field(default_factory=dict)  # group -> term -> hits

    def examples(self, group: str, n: int = 3) -> list[str]:
        return [t for t, _ in self.terms.get(group, Counter()).most_common(n)]


def scan(text: str | None, lexicon: Lexicon | None = None, *, metadata: bool = False) -> TextHits:
    """Count lexicon hits in one text; ``metadata`` (a title, description or tags) also counts the title-only terms."""
    lexicon = lexicon or load_lexicon()
    hits = TextHits()
    if not text:
        return hits
    text = unicodedata.normalize("NFC", text)
    hits.words = len(_WORD.findall(text))
    taken = bytearray(len(text))
    for group, term, pat in (lexicon.metadata_terms or lexicon.terms) if metadata else lexicon.terms:
        for m in pat.finditer(text):
            a, b = m.span()
            if b <= a or any(taken[a:b]):
                continue
            taken[a:b] = b"\x01" * (b - a)
            hits.counts[group] += 1
            hits.terms.setdefault(group, Counter())[term] += 1
    return hits


def merge_max(*hits: TextHits) -> TextHits:
    """Per group, the text with more hits (a transcript and its translation say the same thing once)."""
    out = TextHits()
    for g in GROUPS:
        best = max(hits, key=lambda h: h.counts.get(g, 0), default=None)
        if best is not None and best.counts.get(g, 0):
            out.counts[g] = best.counts[g]
            out.terms[g] = best.terms[g]
    out.words = max((h.words for h in hits), default=0)
    return out


def is_korean(text: str | None) -> bool:
    if not text:
        return False
    return len(_HANGUL.findall(text)) >= 0.3 * max(1, len(re.findall(r"\w", text)))


TEXT_GROUPS = ("news", "music", "honorific", "leader_name", "ideology", "epithet")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n != 1 else f"1 {word.rstrip('s')}" if word.endswith("s") else f"1 {word}"


def transcript_text(t) -> str:
    """The words of the segments that are not flagged (flagged ones may be hallucinated)."""
    if t is None:
        return ""
    return " ".join(s.text.strip() for s in t.segments if not s.flags).strip()


class MetadataSignal(Signal):
    """The platform's category and lexicon hits in the title, description and tags."""

    name = "metadata"
    features = ("cat_news", "cat_music", "cat_other", *(f"meta_{g}" for g in TEXT_GROUPS))

    def extract(self, inp, audio):
        out: dict[str, tuple[float, str]] = {}
        for c in (c.strip() for c in inp.categories or [] if c and c.strip()):
            lc = c.lower()
            key = "cat_news" if "news" in lc or "politic" in lc else "cat_music" if "music" in lc else "cat_other"
            out[key] = (1.0, f"platform category '{c}'")
        lex = load_lexicon()
        meta_text = "\n".join(p for p in (inp.title, inp.description, " ; ".join(inp.platform_tags or [])) if p)
        mh = scan(meta_text, lex, metadata=True)
        for g in TEXT_GROUPS:
            n = mh.counts.get(g, 0)
            if n:
                out[f"meta_{g}"] = (math.log1p(n), f"{_plural(n, lex.descriptions.get(g, g))} in title/description/tags "
                                                   f"({', '.join(repr(t) for t in mh.examples(g))})")
        return out


class TranscriptSignal(Signal):
    """Lexicon hits in the transcript and its English translation, and how dense the propaganda markers are."""

    name = "transcript"
    features = ("has_speech_text", "sp_words", *(f"sp_{g}" for g in TEXT_GROUPS), "sp_prop_density")

    def extract(self, inp, audio):
        lex = load_lexicon()
        sh = merge_max(scan(transcript_text(inp.transcript), lex), scan(transcript_text(inp.translation), lex))
        if not sh.words:
            return {}
        out = {"has_speech_text": (1.0, "transcript present"),
               "sp_words": (math.log1p(sh.words) / 6.0, f"{sh.words} transcribed words")}
        for g in TEXT_GROUPS:
            n = sh.counts.get(g, 0)
            if n:
                out[f"sp_{g}"] = (math.log1p(n), f"{_plural(n, lex.descriptions.get(g, g))} in speech "
                                                 f"({', '.join(repr(t) for t in sh.examples(g))})")
        prop = sum(sh.counts.get(g, 0) for g in ("honorific", "ideology", "epithet"))
        if prop:
            dens = prop / max(sh.words, 20) * 100
            out["sp_prop_density"] = (min(dens, 20.0) / 10.0, f"{dens:.1f} propaganda markers per 100 words")
        return out
