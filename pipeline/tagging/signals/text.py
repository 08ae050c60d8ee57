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
import re
import tomllib
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

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


@functools.lru_cache(maxsize=2)
def load_lexicon(paths: tuple[str, ...] | None = None) -> Lexicon:
    files = [Path(p) for p in paths] if paths else [Path(str(resources.files("pipeline").joinpath(f))) for f in LEXICON_FILES]
    versions, desc, terms = [], {}, []
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
    terms.sort(key=lambda t: -len(t[1].replace(" ", "")))
    return Lexicon("+".join(versions), desc, tuple(terms))


@dataclass
class TextHits:
    words: int = 0
    counts: Counter = field(default_factory=Counter)  # group -> hits
    terms: dict[str, Counter] = field(default_factory=dict)  # group -> term -> hits

    def examples(self, group: str, n: int = 3) -> list[str]:
        return [t for t, _ in self.terms.get(group, Counter()).most_common(n)]


def scan(text: str | None, lexicon: Lexicon | None = None) -> TextHits:
    """Count lexicon hits in one text."""
    lexicon = lexicon or load_lexicon()
    hits = TextHits()
    if not text:
        return hits
    text = unicodedata.normalize("NFC", text)
    hits.words = len(_WORD.findall(text))
    taken = bytearray(len(text))
    for group, term, pat in lexicon.terms:
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
    return bool(text) and len(_HANGUL.findall(text)) >= 0.3 * max(1, len(re.findall(r"\w", text)))
