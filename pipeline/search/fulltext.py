"""Transcript search over the catalogue: ``search(store, SearchQuery) -> SearchResults``.

Two full-text indexes cover the same (unflagged) segments, original transcripts
and translations alike:

* ``segments_fts`` (unicode61, diacritics folded) for word search, with FTS5's
  query language: ``"phrases"``, ``OR``, ``NOT``, ``AND``, ``prefix*``,
  ``NEAR(a b, 5)`` and parentheses;
* ``segments_trigram`` for substring search, chosen automatically when the query
  holds Hangul, kana or CJK ideographs (Korean attaches particles to words, so
  "핵무력" must find "핵무력을"). Trigrams need three characters; shorter terms
  are matched with ``LIKE`` over the segments instead.

A query the engine cannot parse is retried as one plain phrase and the result
says so in ``notice``; sqlite errors never reach the caller. Hits are ordered by
bm25 (or upload date), paged by an opaque cursor, and grouped by video; each
carries a keyword-in-context snippet with highlight offsets, the nearest
keyframe, the line in the other language (original <-> translation) and a deep
link to that second.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import sqlite3
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipeline.errors import QueryError
from pipeline.storage.sqlite.catalogue import Store

log = logging.getLogger(__name__)

SORTS = ("relevance", "date", "date_asc")
MODES = ("auto", "word", "substring", "semantic", "hybrid")
STATUSES = ("available", "removed", "unknown")
SOURCES = ("all", "speech", "screen")  # which text: transcripts and translations, text on screen, or both
MAX_LIMIT = 1000
DEFAULT_LIMIT = 20
SNIPPET_TOKENS = 16

# Hangul (jamo, compatibility jamo, syllables), kana, CJK ideographs: substring search.
CJK_RE = re.compile(r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
# Anything that makes a query more than a list of words.
SYNTAX_RE = re.compile(r'["()*^:+]|\b(?:AND|OR|NOT|NEAR)\b')
OPERATORS = {"AND", "OR", "NOT", "NEAR"}
HL_OPEN, HL_CLOSE = "\x02", "\x03"
YOUTUBE_HOSTS = ("youtube.com", "youtu.be", "youtube-nocookie.com")


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
    source: str = "all"              # speech (transcripts, translations) | screen (text on screen) | all

    def fingerprint(self) -> str:
        d = asdict(self)
        d.pop("cursor")
        d.pop("limit")
        return hashlib.sha1(json.dumps(d, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:10]


@dataclass
class Keyframe:
    time: float
    path: str  # relative to the archive root


@dataclass
class Hit:
    segment_id: int
    video_id: str
    start: float
    end: float
    text: str                         # the matching line
    kind: str                         # original | translation: which transcript matched
    language: str | None              # the matching line's language
    snippet: str                      # keyword in context, plain text
    highlights: list[list[int]]       # [start, end) character offsets of matched words in snippet
    original: str | None              # the original-language line at this time
    translation: str | None           # the English translation of that line, when one exists
    score: float | None               # bm25 (lower is better) or fused score; None when unranked
    keyframe: Keyframe | None
    link: str                         # opens the source (or the archived file) at this second
    web_path: str                     # this clipwatch server's video page at this second

    @property
    def snippet_html(self) -> str:
        return highlight_html(self.snippet, self.highlights)


@dataclass
class VideoGroup:
    video_id: str
    title: str | None
    channel: str | None
    channel_url: str | None
    webpage_url: str
    upload_date: str | None
    archived_at: str | None
    status: str
    language: str | None
    duration: float | None
    sha256: str | None
    media_path: str | None            # relative to the archive root
    tags: list[dict[str, Any]] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)


@dataclass
class SearchResults:
    query: SearchQuery
    mode: str                         # effective: word | substring | like | semantic | hybrid
    fts_query: str | None             # what was handed to FTS5 (after any fallback)
    notice: str | None                # why the query was changed, when it was
    videos: list[VideoGroup]
    hit_count: int                    # hits on this page
    next_cursor: str | None
    elapsed_ms: float

    @property
    def hits(self) -> list[Hit]:
        return [h for v in self.videos for h in v.hits]

    def to_dict(self) -> dict[str, Any]:
        q = asdict(self.query)
        videos = []
        for v in self.videos:
            vd = asdict(v)
            for hd, h in zip(vd["hits"], v.hits):
                hd["snippet_html"] = h.snippet_html
                hd["start"] = round(h.start, 3)
                hd["end"] = round(h.end, 3)
            videos.append(vd)
        return {
            "query": q,
            "mode": self.mode,
            "fts_query": self.fts_query,
            "notice": self.notice,
            "hit_count": self.hit_count,
            "video_count": len(self.videos),
            "next_cursor": self.next_cursor,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "videos": videos,
        }


# -- helpers shared with the web layer and export -----------------------------------

def highlight_html(snippet: str, highlights: list[list[int]]) -> str:
    """The snippet, HTML-escaped, with matches wrapped in <mark>."""
    from html import escape

    out, pos = [], 0
    for a, b in highlights:
        out.append(escape(snippet[pos:a]))
        out.append("<mark>" + escape(snippet[a:b]) + "</mark>")
        pos = b
    out.append(escape(snippet[pos:]))
    return "".join(out)


def deep_link(webpage_url: str | None, seconds: float, media_abspath: Path | None = None) -> str:
    """A link that opens the video at ``seconds``.

    YouTube-style pages take ``&t=123s`` (or ``?t=123`` on youtu.be short links);
    anything else opens the archived file at that second (``file://…#t=123``), or
    the page itself when no file was archived.
    """
    t = max(0, int(seconds))
    url = webpage_url or ""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        host = ""
    if any(host == h or host.endswith("." + h) for h in YOUTUBE_HOSTS):
        base = re.sub(r"([?&])t=\d+s?(&|$)", r"\1", url).rstrip("?&")
        if host == "youtu.be" or host.endswith(".youtu.be"):
            return f"{base}{'&' if '?' in base else '?'}t={t}"
        return f"{base}{'&' if '?' in base else '?'}t={t}s"
    if media_abspath is not None:
        return f"{Path(media_abspath).resolve().as_uri()}#t={t}"
    return f"{url}#t={t}" if url else f"#t={t}"


def parse_date(value: str | None, *, end: bool) -> str | None:
    """YYYY, YYYY-MM or YYYY-MM-DD (or YYYYMMDD) -> YYYYMMDD, padded to the range's start or end."""
    if value is None or str(value).strip() == "":
        return None
    v = str(value).strip()
    m = re.fullmatch(r"(\d{4})(?:-?(\d{2})(?:-?(\d{2}))?)?", v)
    if not m:
        raise QueryError(f"bad date {value!r}: use YYYY, YYYY-MM or YYYY-MM-DD")
    y, mo, d = m.group(1), m.group(2), m.group(3)
    if mo is not None and not 1 <= int(mo) <= 12 or d is not None and not 1 <= int(d) <= 31:
        raise QueryError(f"bad date {value!r}: month or day out of range")
    mo = mo or ("12" if end else "01")
    d = d or ("31" if end else "01")
    return f"{y}{mo}{d}"


def has_cjk(text: str) -> bool:
    return bool(CJK_RE.search(text))


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _plain_terms(text: str) -> list[str]:
    return [t for t in text.split() if t]


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
    if len(text) > 1000:
        raise QueryError("query too long (over 1000 characters)")
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

    def clean(v: str | None) -> str | None:
        return v.strip() if isinstance(v, str) and v.strip() else None

    return replace(
        q, text=text, limit=limit, min_score=min_score, channel=clean(q.channel),
        category=clean(q.category), language=clean(q.language), since=clean(q.since), until=clean(q.until),
        cursor=clean(q.cursor),
    )


# -- planning ----------------------------------------------------------------------

@dataclass
class _Plan:
    mode: str                 # word | substring | like
    table: str | None         # FTS table, None for like
    match: str | None         # FTS5 query
    like_terms: list[str]     # for like: every term, for highlighting
    like_tree: Any = None     # for like: boolean tree of terms (see _parse_bool)
    notice: str | None = None
    fallback_match: str | None = None  # tried when `match` raises


def _plan(text: str, mode: str) -> _Plan:
    substring = mode == "substring" or (mode in ("auto", "hybrid", "semantic") and has_cjk(text))
    syntax = bool(SYNTAX_RE.search(text))
    phrase = _quote(" ".join(re.sub(r'["()*^]', " ", text).split()) or text)
    if not substring:
        match = text if syntax else " ".join(_quote(t) for t in _plain_terms(text))
        return _Plan("word", "segments_fts", match, [], fallback_match=phrase if syntax else None)
    terms = _syntax_terms(text) if syntax else _plain_terms(text)
    short = [t for t in terms if len(t.strip()) < 3]
    if short or not terms:
        # Trigrams cannot match fewer than 3 characters: scan with LIKE, keeping the boolean operators.
        notice = None
        try:
            tree = _parse_bool(text) if syntax else ("and", [("term", t) for t in terms])
        except ValueError as exc:
            tree = ("term", " ".join(re.sub(r'["()*^]', " ", text).split()) or text)
            notice = f"could not parse the query ({exc}); searched for it as a plain phrase instead"
        like = [t for t in _tree_terms(tree) if t]
        return _Plan("like", None, None, like, like_tree=tree, notice=notice)
    match = text if syntax else " ".join(_quote(t) for t in terms)
    return _Plan("substring", "segments_trigram", match, [], fallback_match=phrase if syntax else None)


def _parse_bool(text: str):
    """Parse the boolean part of FTS5 syntax (terms, "phrases", AND, OR, NOT, parentheses,
    NEAR(...) read as AND, prefix* read as substring) into a tree for LIKE matching.
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
        nonlocal pos
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
    return tree


def _tree_terms(node) -> list[str]:
    if node[0] == "term":
        return [node[1]]
    if node[0] == "not":
        return []
    return [t for child in node[1] for t in _tree_terms(child)]


def _tree_sql(node, args: list[Any]) -> str:
    if node[0] == "term":
        args.append("%" + node[1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        return "s.text LIKE ? ESCAPE '\\'"
    if node[0] == "not":
        return f"NOT ({_tree_sql(node[1], args)})"
    joiner = " AND " if node[0] == "and" else " OR "
    return "(" + joiner.join(_tree_sql(c, args) for c in node[1]) + ")"


# -- the engine --------------------------------------------------------------------

def _filters(q: SearchQuery) -> tuple[list[str], list[Any], bool]:
    """SQL conditions on videos v (and their tags); returns (conds, args, needs_video_join)."""
    conds: list[str] = []
    args: list[Any] = []
    if q.channel:
        conds.append("(v.channel = ? COLLATE NOCASE OR v.channel_id = ? OR v.uploader = ? COLLATE NOCASE)")
        args += [q.channel] * 3
    if q.language:
        conds.append("(v.language = ? COLLATE NOCASE OR (v.language IS NULL AND t.language = ? COLLATE NOCASE))")
        args += [q.language, q.language]
    since, until = parse_date(q.since, end=False), parse_date(q.until, end=True)
    if since:
        conds.append("replace(v.upload_date, '-', '') >= ?")
        args.append(since)
    if until:
        conds.append("replace(v.upload_date, '-', '') <= ?")
        args.append(until)
    if q.status:
        conds.append("v.status = ?")
        args.append(q.status)
    if q.source == "speech":
        conds.append("t.kind IN ('original', 'translation')")
    elif q.source == "screen":
        conds.append("t.kind = 'screen'")
    if q.category:
        score_cond = "tg.score >= ?" if q.min_score is not None else "tg.decision = 1"
        conds.append(
            "EXISTS (SELECT 1 FROM tags tg WHERE tg.video_id = v.id AND tg.category = ? COLLATE NOCASE AND "
            f"{score_cond} AND (tg.origin = 'human' OR NOT EXISTS (SELECT 1 FROM tags h WHERE h.video_id = tg.video_id "
            "AND h.category = tg.category AND h.origin = 'human')))"
        )
        args.append(q.category)
        if q.min_score is not None:
            args.append(q.min_score)
    return conds, args, bool(conds)


def _order(sort: str, ranked: bool) -> str:
    if sort == "date":
        return "COALESCE(replace(v.upload_date, '-', ''), '') DESC, s.video_id, s.start, s.id"
    if sort == "date_asc":
        return "COALESCE(replace(v.upload_date, '-', ''), '99999999') ASC, s.video_id, s.start, s.id"
    return "score, s.id" if ranked else "s.id"


def _ranked_ids(db: sqlite3.Connection, plan: _Plan, q: SearchQuery, offset: int, n: int) -> list[tuple[int, float | None]]:
    conds, args, filtered = _filters(q)
    by_date = q.sort != "relevance"
    if plan.mode == "like":
        like_args: list[Any] = []
        like_conds = [_tree_sql(plan.like_tree, like_args)]
        sql = (
            "SELECT s.id, NULL AS score FROM segments s JOIN transcripts t ON t.id = s.transcript_id "
            "JOIN videos v ON v.id = s.video_id "
            f"WHERE s.flags = '' AND {' AND '.join(like_conds + conds)} "
            f"ORDER BY {_order(q.sort, False)} LIMIT ? OFFSET ?"
        )
        return [(r[0], None) for r in db.execute(sql, (*like_args, *args, n, offset))]
    table = plan.table
    if not filtered and not by_date:
        # FTS5 alone: rank is bm25 with default weights.
        sql = f"SELECT rowid, rank FROM {table} WHERE {table} MATCH ? ORDER BY rank, rowid LIMIT ? OFFSET ?"
        return [(r[0], r[1]) for r in db.execute(sql, (plan.match, n, offset))]
    sql = (
        f"SELECT s.id, bm25({table}) AS score FROM {table} f JOIN segments s ON s.id = f.rowid "
        "JOIN transcripts t ON t.id = s.transcript_id JOIN videos v ON v.id = s.video_id "
        f"WHERE {table} MATCH ? {''.join(' AND ' + c for c in conds)} "
        f"ORDER BY {_order(q.sort, True)} LIMIT ? OFFSET ?"
    )
    return [(r[0], r[1]) for r in db.execute(sql, (plan.match, *args, n, offset))]


def _snippet(db: sqlite3.Connection, plan: _Plan, seg_id: int, text: str) -> tuple[str, list[list[int]]]:
    marked = None
    if plan.mode != "like" and plan.match:
        try:
            row = db.execute(
                f"SELECT snippet({plan.table}, 0, char(2), char(3), '…', {SNIPPET_TOKENS if plan.mode == 'word' else 48}) "
                f"FROM {plan.table} "
                f"WHERE {plan.table} MATCH ? AND rowid = ?",
                (plan.match, seg_id),
            ).fetchone()
            marked = row[0] if row else None
        except sqlite3.Error:
            marked = None
    if marked is None:
        marked = _mark_substrings(text, plan.like_terms)
    return _split_marks(marked)


def _mark_substrings(text: str, terms: list[str]) -> str:
    spans = []
    low = text.lower()
    for t in terms:
        t = t.lower()
        if not t:
            continue
        i = low.find(t)
        while i >= 0:
            spans.append((i, i + len(t)))
            i = low.find(t, i + len(t))
    spans.sort()
    out, pos = [], 0
    for a, b in spans:
        if a < pos:
            continue
        out += [text[pos:a], HL_OPEN, text[a:b], HL_CLOSE]
        pos = b
    out.append(text[pos:])
    return "".join(out)


def _split_marks(marked: str) -> tuple[str, list[list[int]]]:
    out: list[str] = []
    spans: list[list[int]] = []
    n = 0
    start = None
    for part in re.split(f"([{HL_OPEN}{HL_CLOSE}])", marked):
        if part == HL_OPEN:
            start = n
        elif part == HL_CLOSE:
            if start is not None and n > start:
                if spans and spans[-1][1] == start:  # trigram snippets mark adjacent pieces
                    spans[-1][1] = n
                else:
                    spans.append([start, n])
            start = None
        else:
            out.append(part)
            n += len(part)
    return "".join(out), spans


def _paired_line(db: sqlite3.Connection, video_id: str, kind: str, start: float, end: float) -> str | None:
    row = db.execute(
        "SELECT s.text FROM segments s JOIN transcripts t ON t.id = s.transcript_id "
        "WHERE s.video_id = ? AND t.kind = ? AND s.start < ? AND s.end > ? "
        "ORDER BY abs(s.start - ?) LIMIT 1",
        (video_id, kind, max(end, start + 0.01), start, start),
    ).fetchone()
    return row[0] if row else None


def nearest_keyframe(db: sqlite3.Connection, video_id: str, t: float) -> Keyframe | None:
    row = db.execute(
        "SELECT time, path FROM keyframes WHERE video_id = ? "
        "ORDER BY (shot_start <= ? AND ? < shot_end) DESC, abs(time - ?) LIMIT 1",
        (video_id, t, t, t),
    ).fetchone()
    return Keyframe(time=row[0], path=row[1]) if row else None


def video_tags(db: sqlite3.Connection, video_id: str) -> list[dict[str, Any]]:
    rows = db.execute(
        """SELECT category, score, decision, evidence, origin FROM tags t WHERE video_id = ? AND (origin = 'human' OR NOT EXISTS
             (SELECT 1 FROM tags h WHERE h.video_id = t.video_id AND h.category = t.category AND h.origin = 'human'))
           ORDER BY score DESC""",
        (video_id,),
    ).fetchall()
    out = []
    for r in rows:
        try:
            ev = json.loads(r["evidence"])
        except (TypeError, ValueError):
            ev = [str(r["evidence"])]
        out.append({"category": r["category"], "score": round(float(r["score"]), 4), "decision": bool(r["decision"]),
                    "evidence": ev, "origin": r["origin"]})
    return out


def _build_hits(store: Store, plan: _Plan | None, ranked: list[tuple[int, float | None]], archive_dir: Path,
                marked: dict[int, str] | None = None) -> list[VideoGroup]:
    db = store.db
    if not ranked:
        return []
    ids = [i for i, _ in ranked]
    rows = {
        r["id"]: r
        for r in db.execute(
            "SELECT s.id, s.video_id, s.start, s.end, s.text, t.kind, t.language FROM segments s "
            f"JOIN transcripts t ON t.id = s.transcript_id WHERE s.id IN ({','.join('?' * len(ids))})",
            ids,
        )
    }
    groups: dict[str, VideoGroup] = {}
    media_abs: dict[str, Path | None] = {}
    for seg_id, score in ranked:
        r = rows.get(seg_id)
        if r is None:
            continue
        vid = r["video_id"]
        if vid not in groups:
            v = db.execute("SELECT * FROM videos WHERE id = ?", (vid,)).fetchone()
            if v is None:
                continue
            m = db.execute("SELECT path, fetched_at FROM media_files WHERE sha256 = ?", (v["media_sha256"],)).fetchone() if v["media_sha256"] else None
            media_abs[vid] = (archive_dir / m["path"]) if m else None
            groups[vid] = VideoGroup(
                video_id=vid, title=v["title"], channel=v["channel"] or v["uploader"], channel_url=v["channel_url"],
                webpage_url=v["webpage_url"], upload_date=v["upload_date"], archived_at=(m["fetched_at"] if m else v["archived_at"]),
                status=v["status"], language=v["language"], duration=v["duration"], sha256=v["media_sha256"],
                media_path=m["path"] if m else None, tags=video_tags(db, vid),
            )
        g = groups[vid]
        if marked is not None and seg_id in marked:
            snippet, hl = _split_marks(marked[seg_id])
        elif plan is not None:
            snippet, hl = _snippet(db, plan, seg_id, r["text"])
        else:
            snippet, hl = r["text"], []
        if r["kind"] == "screen":  # text on screen: no spoken line or translation pairs with it
            original, translation = r["text"], None
        elif r["kind"] == "translation":
            original, translation = _paired_line(db, vid, "original", r["start"], r["end"]), r["text"]
        else:
            original, translation = r["text"], _paired_line(db, vid, "translation", r["start"], r["end"])
        g.hits.append(Hit(
            segment_id=seg_id, video_id=vid, start=float(r["start"]), end=float(r["end"]), text=r["text"],
            kind=r["kind"], language=r["language"], snippet=snippet, highlights=hl, original=original,
            translation=translation, score=None if score is None else round(float(score), 6),
            keyframe=nearest_keyframe(db, vid, float(r["start"])),
            link=deep_link(g.webpage_url, r["start"], media_abs[vid]),
            web_path=f"/videos/{vid}?t={int(r['start'])}",
        ))
    return list(groups.values())


def search(store: Store, query: SearchQuery, *, archive_dir: Path | None = None) -> SearchResults:
    """Run a search. Raises QueryError only for bad parameters, never for the query text."""
    engine = getattr(store, "search_engine", None)
    if engine is not None:  # a catalogue with its own engine (PostgreSQL: pipeline/storage/postgres/search.py)
        return engine(query, archive_dir=archive_dir)
    t0 = time.perf_counter()
    q = validate(query)
    archive_dir = Path(archive_dir) if archive_dir is not None else store.path.parent / "archive"
    fp = q.fingerprint()
    offset = decode_cursor(q.cursor, fp) if q.cursor else 0

    if not re.search(r"\w", q.text):
        # Only punctuation and operators: nothing any index can match.
        return SearchResults(query=q, mode="word", fts_query=None, videos=[], hit_count=0, next_cursor=None,
                             notice="the query has no searchable words (only punctuation or operators)",
                             elapsed_ms=(time.perf_counter() - t0) * 1000)
    if q.mode in ("semantic", "hybrid"):
        from pipeline.search import vectors as semantic

        ranked, plan, notice, eff_mode = semantic.search_ranked(store, q, offset, q.limit + 1, _plan, _ranked_ids_safe)
    else:
        plan = _plan(q.text, q.mode)
        ranked, plan, notice = _ranked_ids_safe(store.db, plan, q, offset, q.limit + 1)
        eff_mode = plan.mode
    more = len(ranked) > q.limit
    ranked = ranked[: q.limit]
    groups = _build_hits(store, plan, ranked, archive_dir)
    return SearchResults(
        query=q, mode=eff_mode, fts_query=plan.match if plan else None, notice=notice, videos=groups,
        hit_count=sum(len(g.hits) for g in groups),
        next_cursor=encode_cursor(offset + q.limit, fp) if more else None,
        elapsed_ms=(time.perf_counter() - t0) * 1000,
    )


def _ranked_ids_safe(db: sqlite3.Connection, plan: _Plan, q: SearchQuery, offset: int, n: int):
    """Run the plan; on an FTS5 syntax error retry as one plain phrase and say so."""
    notice = plan.notice
    try:
        return _ranked_ids(db, plan, q, offset, n), plan, notice
    except sqlite3.OperationalError as exc:
        log.info("query %r rejected by FTS5 (%s); retrying as a phrase", plan.match, exc)
        reason = str(exc).removeprefix("fts5: ")
    phrase = plan.fallback_match or _quote(" ".join(q.text.split()))
    bare = " ".join(re.sub(r'["()*^]', " ", q.text).split())
    if plan.mode == "substring" and len(bare) < 3:
        plan = _Plan("like", None, None, [bare], like_tree=("term", bare or q.text))
    else:
        plan = replace(plan, match=phrase, fallback_match=None)
    notice = f"could not parse the query ({reason}); searched for it as a plain phrase instead"
    try:
        return _ranked_ids(db, plan, q, offset, n), plan, notice
    except sqlite3.OperationalError as exc:  # e.g. a phrase with no indexable characters
        log.info("phrase fallback %r failed too: %s", plan.match, exc)
        return [], plan, notice + " (it has no searchable words)"
