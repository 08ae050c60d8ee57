"""Hangul syllable bigrams: how Korean gets an index-backed word search in PostgreSQL.

PostgreSQL's text search splits on spaces and knows no Korean; Korean attaches particles to words ("핵무력을"), so a
word is a substring of a space-separated token. Every run of Hangul syllables is cut into overlapping pairs with
their positions ("핵무력을" → 핵무:1 무력:2 력을:3) and stored as a ``tsvector``; a query of two syllables is then one
GIN lookup, and a longer one a phrase of adjacent bigrams (``'핵무' <-> '무력'``), which matches exactly the texts
that hold the query as a substring of one Hangul run. Runs are kept one position apart so a phrase never joins two
runs across a space or punctuation. Single syllables fall back to ``pg_trgm``/``ILIKE``.
"""

from __future__ import annotations

import re

HANGUL_RUN = re.compile(r"[\uac00-\ud7a3]+")
HANGUL_ONLY = re.compile(r"[\uac00-\ud7a3]+")
# PostgreSQL allows positions up to 16383 in a tsvector; later lexemes keep the last position.
MAX_POSITION = 16383


def bigrams(text: str) -> list[tuple[str, int]]:
    """(bigram, position) for every adjacent pair of syllables of every Hangul run, positions from 1."""
    out: list[tuple[str, int]] = []
    pos = 0
    for run in HANGUL_RUN.findall(text or ""):
        pos += 1  # a gap between runs: a phrase never spans two runs
        for i in range(len(run) - 1):
            pos += 1
            out.append((run[i:i + 2], min(pos, MAX_POSITION)))
    return out


def tsvector_literal(text: str) -> str:
    """The bigrams of ``text`` as a tsvector literal (cast with ``::tsvector``); '' when it has no Hangul pair."""
    positions: dict[str, list[int]] = {}
    for gram, pos in bigrams(text):
        positions.setdefault(gram, []).append(pos)
    return " ".join(f"'{g}':{','.join(map(str, ps[:256]))}" for g, ps in positions.items())


def is_hangul_word(term: str) -> bool:
    return bool(HANGUL_ONLY.fullmatch(term))


def tsquery_literal(term: str) -> str | None:
    """A tsquery that matches texts holding ``term`` (2+ Hangul syllables) inside one Hangul run; None otherwise."""
    if not is_hangul_word(term) or len(term) < 2:
        return None
    return " <-> ".join(f"'{term[i:i + 2]}'" for i in range(len(term) - 1))
