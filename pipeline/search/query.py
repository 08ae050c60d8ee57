"""The search query: its parameters, their validation, and the plan that turns the text into an FTS5 expression.

Query language (FTS5's): ``"phrases"``, ``OR``, ``NOT``, ``AND``, ``prefix*``, ``NEAR(a b, 5)``, parentheses.
Every word and phrase goes through the same normalisation as the indexed text (``normalize.py``), so "five"
finds "5", "Mr" finds "mister", "cease-fire" finds "ceasefire". Korean/CJK queries match substrings (particles
attach to words): through the trigram index when every term has three characters or more, else through the
Hangul bigram index (``normalize.bigrams``) — never a scan.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from pipeline.errors import QueryError
from pipeline.storage.searchindex import BIGRAM, DOUBT, TRIGRAM, WORD, Filters
from pipeline.text import normalize

SORTS = ("relevance", "date", "date_asc")
MODES = ("auto", "word", "substring", "semantic", "hybrid")
STATUSES = ("available", "removed", "unknown")
# which text: transcripts and translations, text on screen, the platform's comments (issue 23), or all of them
# ("all" adds no condition, so an archive without comments searches exactly as before; a comment hit is labelled)
SOURCES = ("all", "speech", "screen", "comments")
MAX_LIMIT = 1000
DEFAULT_LIMIT = 20
MAX_QUERY_CHARS = 1000
MAX_PHRASE_VARIANTS = 16

CJK_RE = normalize.CJK_RE
# Anything that makes a query more than a list of words.
SYNTAX_RE = re.compile(r'["()*^:+]|\b(?:AND|OR|NOT|NEAR)\b')
OPERATORS = {"AND", "OR", "NOT", "NEAR"}


@dataclass
class SearchQuery:
    text: str
    channel: str | None = None
    category: str | None = None
    min_score: float | None = None   # with category; None means "the tagger's decision"
    language: str | None = None      # the video's spoken language (e.g. ko, en)
    since: str | None = None         # upload date, inclusive: YYYY, YYYY-MM or YYYY-MM-DD
    until: str | None = None
    status: str | None = None        # available | removed | unknown
    sort: str = "relevance"          # relevance | date | date_asc
    limit: int = DEFAULT_LIMIT       # hits per page
    cursor: str | None = None
    mode: str = "auto"               # auto | word | substring | semantic | hybrid
    source: str = "all"              # speech (transcripts, translations) | screen (text on screen) | all | comments

    def fingerprint(self) -> str:
        d = asdict(self)
        d.pop("cursor")
        d.pop("limit")
        return hashlib.sha1(json.dumps(d, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:10]

    def filters(self) -> Filters:
        return Filters(channel=self.channel, category=self.category, min_score=self.min_score, language=self.language,
                       since=parse_date(self.since, end=False), until=parse_date(self.until, end=True), status=self.status,
                       since_air=parse_air(self.since, end=False), until_air=parse_air(self.until, end=True),
                       source=self.source)


# A date, and for recorded streams (issue 25) an optional UTC time of day: 2026-12-06T20:14[:33][Z].
DATE_RE = re.compile(r"(\d{4})(?:-?(\d{2})(?:-?(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?Z?)?)?)?")


def parse_date(value: str | None, *, end: bool) -> str | None:
    """YYYY, YYYY-MM or YYYY-MM-DD (or YYYYMMDD) -> YYYYMMDD, padded to the range's start or end (a time of day,
    which only air times use, is left out)."""
    if value is None or str(value).strip() == "":
        return None
    v = str(value).strip()
    m = DATE_RE.fullmatch(v)
    if not m:
        raise QueryError(f"bad date {value!r}: use YYYY, YYYY-MM or YYYY-MM-DD (recorded streams: YYYY-MM-DDTHH:MM)")
    y, mo, d = m.group(1), m.group(2), m.group(3)
    if mo is not None and not 1 <= int(mo) <= 12 or d is not None and not 1 <= int(d) <= 31:
        raise QueryError(f"bad date {value!r}: month or day out of range")
    mo = mo or ("12" if end else "01")
    d = d or ("31" if end else "01")
    return f"{y}{mo}{d}"


def parse_air(value: str | None, *, end: bool) -> str | None:
    """--since/--until as a bound on air time (ISO 8601 UTC, milliseconds, Z) for recorded streams: a time is the
    moment itself; a date (or month, year) starts at its first moment, and as ``end`` stops before the next one."""
    day = parse_date(value, end=False)
    if day is None:
        return None
    m = DATE_RE.fullmatch(str(value).strip())
    assert m is not None
    y, mo, d, hh, mm, ss = m.groups()
    if hh is not None:
        if int(hh) > 23 or int(mm) > 59 or int(ss or 0) > 59:
            raise QueryError(f"bad time in {value!r}: HH:MM[:SS], 24-hour UTC")
        return f"{day[:4]}-{day[4:6]}-{day[6:]}T{hh}:{mm}:{ss or '00'}.000Z"
    try:
        start = datetime(int(y), int(mo or 1), int(d or 1), tzinfo=timezone.utc)
    except ValueError:
        raise QueryError(f"bad date {value!r}: no such day") from None
    if end:  # the first moment after the day, month or year
        if d:
            start += timedelta(days=1)
        elif mo:
            start = datetime(int(y) + (mo == "12"), int(mo) % 12 + 1, 1, tzinfo=timezone.utc)
        else:
            start = datetime(int(y) + 1, 1, 1, tzinfo=timezone.utc)
    return start.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def has_cjk(text: str) -> bool:
    return bool(CJK_RE.search(text))


def encode_cursor(offset: int, fingerprint: str) -> str:
    raw = json.dumps({"o": offset, "k": fingerprint}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, fingerprint: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        d = json.loads(raw)
        offset, key = int(d["o"]), str(d["k"])
    except Exception:
        raise QueryError("bad cursor: pass the next_cursor value of a previous page unchanged") from None
    if key != fingerprint:
        raise QueryError("this cursor belongs to a different query or filters: start again without --cursor")
    if not 0 <= offset <= 1_000_000_000:  # SQLite's OFFSET is a 64-bit integer; nobody pages this far
        raise QueryError("bad cursor: offset out of range")
    return offset


def validate(q: SearchQuery) -> SearchQuery:
    """Check and normalise a query; raises QueryError with a message that says what to do."""
    text = (q.text or "").strip()
    if not text:
        raise QueryError("empty query: give words to search for")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"query too long ({len(text):,} characters; at most {MAX_QUERY_CHARS:,}): search for a phrase or a few words")
    if q.sort not in SORTS:
        raise QueryError(f"unknown sort {q.sort!r}; choose one of: {', '.join(SORTS)}")
    if q.mode not in MODES:
        raise QueryError(f"unknown mode {q.mode!r}; choose one of: {', '.join(MODES)}")
    if q.source not in SOURCES:
        raise QueryError(f"unknown source {q.source!r}; choose one of: {', '.join(SOURCES)}")
    if q.status is not None and q.status not in STATUSES:
        raise QueryError(f"unknown status {q.status!r}; choose one of: {', '.join(STATUSES)}")
    try:
        limit = int(q.limit)
    except (TypeError, ValueError):
        raise QueryError("limit must be a whole number") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT}")
    min_score = q.min_score
    if min_score is not None:
        try:
            min_score = float(min_score)
        except (TypeError, ValueError):
            raise QueryError("min-score must be a number between 0 and 1") from None
        if not 0.0 <= min_score <= 1.0 or min_score != min_score:
            raise QueryError("min-score must be between 0 and 1")
    since, until = parse_date(q.since, end=False), parse_date(q.until, end=True)
    if since and until and since > until:
        raise QueryError(f"--since {q.since} is after --until {q.until}")
    since_air, until_air = parse_air(q.since, end=False), parse_air(q.until, end=True)
    if since_air and until_air and since_air >= until_air:
        raise QueryError(f"--since {q.since} is not before --until {q.until}")

    def clean(v: str | None) -> str | None:
        return v.strip() if isinstance(v, str) and v.strip() else None

    return replace(
        q, text=text, limit=limit, min_score=min_score, channel=clean(q.channel),
        category=clean(q.category), language=clean(q.language), since=clean(q.since), until=clean(q.until),
        cursor=clean(q.cursor),
    )


# -- planning ----------------------------------------------------------------------

@dataclass
class Plan:
    mode: str                          # word | substring | bigram
    table: str                         # the FTS5 table
    match: str                         # the FTS5 expression
    ranked: bool = True                # bm25 order (else segment order)
    newest_first: bool = False         # unranked: the latest lines first (a very common word)
    doubt_table: str | None = None     # word mode: flagged lines, listed after the trusted ones
    notice: str | None = None
    fallback_match: str | None = None  # tried when `match` raises
    # What to highlight in a hit (and whose first word times it): alternative form sequences (word mode),
    # prefixes (word mode, from prefix*), or substrings (substring/bigram modes).
    units: list[list[tuple[str, ...]]] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    substrings: list[str] = field(default_factory=list)
    # bigram mode: the boolean tree of substring terms the FTS5 expression was made from, for engines that do not
    # read FTS5 (PostgreSQL: pipeline/storage/postgres/search.py)
    tree: Any = None


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _alt_expr(alts: list[tuple[str, ...]], allow_or: bool = True) -> str:
    phrases = [_quote(" ".join(a)) for a in alts if a]
    if not allow_or or len(phrases) == 1:
        return phrases[0]
    return "(" + " OR ".join(phrases) + ")"


def phrase_variants(units: list[list[tuple[str, ...]]]) -> list[tuple[str, ...]]:
    """The ways a phrase may be written, as form sequences (its words' alternatives combined, capped)."""
    variants: list[tuple[str, ...]] = []
    for combo in itertools.product(*units):
        v = tuple(f for part in combo for f in part)
        if v not in variants:
            variants.append(v)
        if len(variants) >= MAX_PHRASE_VARIANTS:
            break
    return variants


def _phrase_expr(units: list[list[tuple[str, ...]]], allow_or: bool = True) -> str:
    """One phrase whose words may each be written several ways: OR of the variants (capped)."""
    if not allow_or:
        return _quote(" ".join(" ".join(u[0]) for u in units))
    variants = [" ".join(v) for v in phrase_variants(units)]
    return _quote(variants[0]) if len(variants) == 1 else "(" + " OR ".join(_quote(v) for v in variants) + ")"


_TOKEN_RE = re.compile(r'"((?:[^"]|"")*)("?)|(NEAR\()|(\()|(\))|(,\s*\d+)|([^\s"(),]+)|(,)')


def _word_match(text: str, syntax: bool) -> tuple[str, list[list[tuple[str, ...]]], list[str]]:
    """(FTS5 expression over the normalised index, units to highlight, prefixes to highlight)."""
    units_all: list[list[tuple[str, ...]]] = []
    prefixes: list[str] = []
    if not syntax:
        units = normalize.query_units(text)
        units_all += units
        # explicit AND: FTS5 (3.40) refuses an implicit AND before a parenthesised group
        return " AND ".join(_alt_expr(u) for u in units), units_all, prefixes
    out: list[tuple[str, str]] = []   # (kind, text): operand | op | open | close | sep
    run: list[str] = []
    near_depth = 0
    depth = 0

    def flush() -> None:
        if run:
            units = normalize.query_units(" ".join(run))
            units_all.extend(units)
            out.extend(("operand", _alt_expr(u, allow_or=near_depth == 0)) for u in units)
            run.clear()

    for m in _TOKEN_RE.finditer(text):
        phrase, closed, near, lpar, rpar, dist, word, comma = m.groups()
        if phrase is not None:
            flush()
            if not closed:
                raise ValueError("unterminated string")
            # no compound splits inside a phrase: each variant re-reads its common words ("of", "the")
            units = normalize.query_units(phrase.replace('""', '"'), splits=False)
            if units:
                units_all.append(phrase_variants(units))
            out.append(("operand", _phrase_expr(units, allow_or=near_depth == 0) if units else '""'))
        elif near:
            flush()
            out.append(("open", "NEAR("))
            depth += 1
            near_depth = depth
        elif lpar:
            flush()
            out.append(("open", "("))
            depth += 1
        elif rpar:
            flush()
            out.append(("close", ")"))
            if near_depth == depth:
                near_depth = 0
            depth -= 1
        elif dist or comma:
            flush()
            out.append(("sep", dist or ","))
        elif word in OPERATORS:
            flush()
            out.append(("op", word))
        elif word.endswith("*") and word.rstrip("*"):
            flush()
            stem = normalize.fold(word.rstrip("*").lstrip("^+"))
            if re.fullmatch(r"\w+", stem):
                prefixes.append(stem)
                out.append(("operand", stem + "*"))
            else:
                out.append(("operand", word))
        elif ":" in word or word.startswith(("^", "+")) or word == "*":
            flush()
            out.append(("operand", word))  # column filters and the like: FTS5 decides (an error falls back to a phrase)
        else:
            run.append(word)
    flush()
    # FTS5 accepts an implicit AND only between plain phrases: write it out everywhere else (not inside NEAR()).
    parts: list[str] = []
    prev = None
    depth = 0
    near_at: list[bool] = []
    for kind, tok in out:
        inside_near = bool(near_at and near_at[-1])
        if prev in ("operand", "close") and kind in ("operand", "open") and not inside_near:
            parts.append("AND")
        parts.append(tok)
        if kind == "open":
            near_at.append(tok == "NEAR(")
        elif kind == "close" and near_at:
            near_at.pop()
        prev = kind
    return " ".join(parts), units_all, prefixes


def plan(text: str, mode: str) -> Plan:
    """How to run ``text``: which index, which FTS5 expression, what to highlight."""
    substring = mode == "substring" or (mode in ("auto", "hybrid", "semantic") and has_cjk(text))
    syntax = bool(SYNTAX_RE.search(text))
    bare = " ".join(re.sub(r'["()*^]', " ", text).split()) or text
    if not substring:
        phrase_units = normalize.query_units(bare, splits=False)
        fallback = _phrase_expr(phrase_units) if phrase_units else _quote(bare)
        try:
            match, units, prefixes = _word_match(text, syntax)
        except ValueError as exc:
            return Plan("word", WORD, fallback, doubt_table=DOUBT, units=[phrase_variants(phrase_units)] if phrase_units else [],
                        notice=f"could not parse the query ({exc}); searched for it as a plain phrase instead")
        if not match.strip():
            match = fallback
        return Plan("word", WORD, match, doubt_table=DOUBT, units=units, prefixes=prefixes,
                    fallback_match=fallback if syntax else None)
    terms = _syntax_terms(text) if syntax else text.split()
    terms = [t for t in terms if t.strip()]
    if terms and all(len(t.strip()) >= 3 for t in terms):
        match = text if syntax else " ".join(_quote(t) for t in terms)
        return Plan("substring", TRIGRAM, match, substrings=terms, fallback_match=_quote(bare) if syntax else None)
    # A term under three characters: the trigram index cannot serve it; the bigram index can.
    notice = None
    try:
        tree = _parse_bool(text) if syntax else ("and", [("term", t) for t in terms])
    except ValueError as exc:
        tree = ("term", bare)
        notice = f"could not parse the query ({exc}); searched for it as a plain phrase instead"
    return Plan("bigram", BIGRAM, _gram_expr(tree), ranked=False, notice=notice,
                substrings=[t for t in _tree_terms(tree) if t], tree=tree)


def _gram_expr(node) -> str:
    if node[0] == "term":
        return normalize.gram_query(node[1])
    if node[0] == "not":
        raise ValueError("NOT needs something to subtract from")
    items = node[1]
    if node[0] == "or":
        return "(" + " OR ".join(_gram_expr(c) for c in items) + ")"
    pos = [c for c in items if c[0] != "not"]
    neg = [c[1] for c in items if c[0] == "not"]
    if not pos:
        raise ValueError("NOT needs something to subtract from")
    expr = "(" + " AND ".join(_gram_expr(c) for c in pos) + ")"
    for n in neg:
        expr = f"{expr} NOT ({_gram_expr(n)})"
    return expr


def _syntax_terms(text: str) -> list[str]:
    """Words and phrase contents of an FTS5-syntax query, operators left out."""
    terms = []
    for m in re.finditer(r'"((?:[^"]|"")*)"|([^\s"()]+)', text):
        if m.group(1) is not None:
            terms.append(m.group(1).replace('""', '"'))
        else:
            w = m.group(2).rstrip("*").lstrip("^+")
            if w and w not in OPERATORS and not re.fullmatch(r"NEAR\(?|,?\d+", w):
                terms.append(w.split(":", 1)[-1])
    return [t for t in terms if t.strip()]


def _parse_bool(text: str):
    """Parse the boolean part of FTS5 syntax (terms, "phrases", AND, OR, NOT, parentheses,
    NEAR(...) read as AND, prefix* read as substring) into a tree for the bigram index.
    Precedence as in FTS5: NOT binds tighter than AND (also implicit), AND tighter than OR."""
    toks = []
    for m in re.finditer(r'"((?:[^"]|"")*)("?)|(\()|(\))|([^\s"()]+)', text):
        if m.group(1) is not None:
            if not m.group(2):
                raise ValueError("unterminated string")
            toks.append(("term", m.group(1).replace('""', '"')))
        elif m.group(3):
            toks.append(("(", None))
        elif m.group(4):
            toks.append((")", None))
        else:
            w = m.group(5)
            if w in ("AND", "OR", "NOT"):
                toks.append((w, None))
            elif w.startswith("NEAR(") or w == "NEAR":
                toks.append(("NEAR", None))
                if w.startswith("NEAR("):
                    toks.append(("(", None))
                    if w[5:]:
                        toks.append(("term", w[5:]))
            else:
                w = w.rstrip("*").lstrip("^+").rstrip(",")
                if re.fullmatch(r",?\d+", w) and toks and toks[-1][0] == "term":
                    continue  # NEAR distance
                if w:
                    toks.append(("term", w))
                elif not toks or toks[-1][0] != "term":
                    raise ValueError("an operator without a word")
    pos = 0

    def peek():
        return toks[pos][0] if pos < len(toks) else None

    def take(kind):
        nonlocal pos
        if peek() != kind:
            raise ValueError(f"expected {kind!r} near token {pos + 1}")
        pos += 1
        return toks[pos - 1]

    def primary():
        k = peek()
        if k == "term":
            return take("term")
        if k == "NEAR":
            take("NEAR")
            take("(")
            items = []
            while peek() == "term":
                items.append(take("term"))
            take(")")
            if not items:
                raise ValueError("empty NEAR()")
            return ("and", items)
        if k == "(":
            take("(")
            node = or_expr()
            take(")")
            return node
        raise ValueError(f"syntax error near {k or 'the end'}")

    def not_expr():
        node = primary()
        while peek() == "NOT":
            take("NOT")
            node = ("and", [node, ("not", primary())])
        return node

    def and_expr():
        items = [not_expr()]
        while peek() in ("AND", "term", "(", "NEAR"):
            if peek() == "AND":
                take("AND")
            items.append(not_expr())
        return items[0] if len(items) == 1 else ("and", items)

    def or_expr():
        items = [and_expr()]
        while peek() == "OR":
            take("OR")
            items.append(and_expr())
        return items[0] if len(items) == 1 else ("or", items)

    tree = or_expr()
    if pos != len(toks):
        raise ValueError(f"syntax error near {toks[pos][0]}")
    return _flatten(tree)


def _flatten(node):
    """("and", [("and", [a, ("not", b)]), c]) -> ("and", [a, ("not", b), c]), so NOT applies to the whole AND."""
    if node[0] in ("term",):
        return node
    if node[0] == "not":
        return ("not", _flatten(node[1]))
    items = []
    for c in node[1]:
        c = _flatten(c)
        if c[0] == node[0] == "and":
            items += c[1]
        else:
            items.append(c)
    return (node[0], items)


def _tree_terms(node) -> list[str]:
    if node[0] == "term":
        return [node[1]]
    if node[0] == "not":
        return []
    return [t for child in node[1] for t in _tree_terms(child)]


def phrase_plan(p: Plan, text: str) -> Plan:
    """The plan's fallback: the whole query as one plain phrase."""
    bare = " ".join(re.sub(r'["()*^]', " ", text).split())
    if p.mode == "bigram" or (p.mode == "substring" and len(bare) < 3):
        return Plan("bigram", BIGRAM, normalize.gram_query(bare or text), ranked=False, substrings=[bare or text],
                    tree=("term", bare or text))
    return replace(p, match=p.fallback_match or _quote(bare or text), fallback_match=None)
