"""`clipwatch search` on the PostgreSQL catalogue: the query language and the results of the SQLite engine
(``pipeline.search.fulltext``), on PostgreSQL's indexes.

* Words (Latin script): the boolean query (``"phrases"``, ``AND``, ``OR``, ``NOT``, parentheses; ``NEAR`` read as
  AND, ``prefix*`` as the word) becomes a ``tsquery`` over the stored English ``tsvector``; hits are ranked with
  ``ts_rank_cd`` (the score is its negation, so lower is better as with bm25) and snippets come from ``ts_headline``.
* Korean/CJK: each term of two or more Hangul syllables is a phrase of syllable bigrams over the ``bigrams`` column
  (one GIN lookup for a 2-syllable word); other terms are ``ILIKE`` substrings, index-backed by ``pg_trgm`` from
  three characters.

The results are the same dataclasses, so ``--json`` prints the same shape.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from pipeline.errors import QueryError
from pipeline.search.fulltext import Hit, Keyframe, SearchResults, VideoGroup, deep_link
from pipeline.search.query import (SYNTAX_RE, SearchQuery, _parse_bool, _tree_terms, decode_cursor, encode_cursor,
                                   has_cjk, validate)
from pipeline.storage.postgres import hangul
from pipeline.storage.sqlite.catalogue import tag_dicts

SNIPPET_TOKENS = 16  # words of a ts_headline snippet
HL_OPEN, HL_CLOSE = "\x02", "\x03"  # match markers inside a snippet (never in transcript text)


def _plain_terms(text: str) -> list[str]:
    return [t for t in text.split() if t]


def _mark_substrings(text: str, terms: list[str]) -> str:
    """``text`` with every (case-folded) occurrence of ``terms`` between HL_OPEN and HL_CLOSE."""
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
    """A marked snippet as (plain text, [start, end) spans of the marks)."""
    out: list[str] = []
    spans: list[list[int]] = []
    n = 0
    start = None
    for part in re.split(f"([{HL_OPEN}{HL_CLOSE}])", marked):
        if part == HL_OPEN:
            start = n
        elif part == HL_CLOSE:
            if start is not None and n > start:
                if spans and spans[-1][1] == start:  # adjacent pieces (trigram matches) are one mark
                    spans[-1][1] = n
                else:
                    spans.append([start, n])
            start = None
        else:
            out.append(part)
            n += len(part)
    return "".join(out), spans

HEADLINE_OPTIONS = (f"StartSel={HL_OPEN}, StopSel={HL_CLOSE}, MaxWords={SNIPPET_TOKENS}, MinWords={SNIPPET_TOKENS // 2}, "
                    "ShortWord=1, MaxFragments=1, FragmentDelimiter=…")


@dataclass
class PgPlan:
    mode: str             # word | substring | like
    tree: Any             # boolean tree of terms (pipeline.search.fulltext._parse_bool)
    terms: list[str]      # terms to highlight (NOT-ed ones left out)
    notice: str | None = None


def plan(text: str, mode: str) -> PgPlan:
    substring = mode == "substring" or (mode in ("auto", "hybrid", "semantic") and has_cjk(text))
    notice = None
    if SYNTAX_RE.search(text):
        try:
            tree = _parse_bool(text)
        except ValueError as exc:
            tree = ("term", " ".join(re.sub(r'["()*^]', " ", text).split()) or text)
            notice = f"could not parse the query ({exc}); searched for it as a plain phrase instead"
    else:
        terms = _plain_terms(text)
        tree = ("term", terms[0]) if len(terms) == 1 else ("and", [("term", t) for t in terms])
    terms = [t for t in _tree_terms(tree) if t.strip()]
    if not substring:
        return PgPlan("word", tree, terms, notice)
    indexed = all(hangul.tsquery_literal(t) is not None or len(t) >= 3 for t in terms)
    return PgPlan("substring" if indexed else "like", tree, terms, notice)


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _word_sql(node: Any, args: list[Any]) -> str:
    """A tsquery expression for a boolean tree."""
    if node[0] == "term":
        args.append(node[1])
        return "phraseto_tsquery('clipwatch_english', %s)"
    if node[0] == "not":
        return f"(!! {_word_sql(node[1], args)})"
    joiner = " && " if node[0] == "and" else " || "
    return "(" + joiner.join(_word_sql(c, args) for c in node[1]) + ")"


def _substring_sql(node: Any, args: list[Any]) -> str:
    """A boolean SQL condition: Hangul bigram phrases where they apply, ILIKE (pg_trgm) elsewhere."""
    if node[0] == "term":
        tsq = hangul.tsquery_literal(node[1])
        if tsq is not None:
            args.append(tsq)
            return "s.bigrams @@ %s::tsquery"
        args.append(_like(node[1]))
        return "s.text ILIKE %s"
    if node[0] == "not":
        return f"NOT ({_substring_sql(node[1], args)})"
    joiner = " AND " if node[0] == "and" else " OR "
    return "(" + joiner.join(_substring_sql(c, args) for c in node[1]) + ")"


def _filters(q: SearchQuery) -> tuple[list[str], list[Any]]:
    """The SQLite search's filter conditions, in PostgreSQL's dialect (placeholders, case-insensitive equality)."""
    return q.filters().sql(ph="%s", ci_eq=lambda col: f"lower({col}) = lower(%s)")


def _order(sort: str) -> str:
    if sort == "date":
        return "COALESCE(replace(v.upload_date, '-', ''), '') DESC, s.video_id, s.start, s.id"
    if sort == "date_asc":
        return "COALESCE(replace(v.upload_date, '-', ''), '99999999') ASC, s.video_id, s.start, s.id"
    return "score NULLS LAST, s.id"


def _page(conn: Any, match_sql: str, score_sql: str, args: tuple, q: SearchQuery, offset: int, n: int) -> list[Any]:
    """One page of (id, score). Unfiltered: straight from the index. Filtered: the matches are computed once (a
    materialised CTE), then joined to the videos and tags, so a filter never makes PostgreSQL probe the text index
    once per video (which it chose, with a wrong row estimate, for date ranges: 30x slower)."""
    conds, fargs = _filters(q)
    score = score_sql if q.sort == "relevance" else "NULL::float8"
    score_args = args[:score_sql.count("%s")] if q.sort == "relevance" else ()
    match_args = args[score_sql.count("%s"):]
    if not conds and q.sort == "relevance":
        sql = (f"SELECT s.id, {score} AS score FROM segments s WHERE s.flags = '' AND {match_sql} "
               f"ORDER BY {_order(q.sort)} LIMIT %s OFFSET %s")
        return conn.execute(sql, (*score_args, *match_args, n, offset)).fetchall()
    sql = (f"WITH m AS MATERIALIZED (SELECT s.id, s.video_id, s.transcript_id, s.start, {score} AS score "
           f"FROM segments s WHERE s.flags = '' AND {match_sql}) "
           "SELECT s.id, s.score FROM m s JOIN transcripts t ON t.id = s.transcript_id JOIN videos v ON v.id = s.video_id "
           f"{'WHERE ' + ' AND '.join(conds) if conds else ''} ORDER BY {_order(q.sort)} LIMIT %s OFFSET %s")
    return conn.execute(sql, (*score_args, *match_args, *fargs, n, offset)).fetchall()


def ranked_ids(conn: Any, p: PgPlan, q: SearchQuery, offset: int, n: int) -> tuple[list[tuple[int, float | None]], str | None]:
    """(segment id, score) for one page, and the tsquery as PostgreSQL reads it (for ``fts_query``)."""
    if p.mode == "word":
        qargs: list[Any] = []
        tsq = _word_sql(p.tree, qargs)
        fts_query = conn.execute(f"SELECT ({tsq})::text AS q", tuple(qargs)).fetchone()["q"]
        rows = _page(conn, f"s.fts @@ {tsq}", f"-ts_rank_cd(s.fts, {tsq})", (*qargs, *qargs), q, offset, n)
        return [(r["id"], r["score"]) for r in rows], fts_query
    cargs: list[Any] = []
    cond = _substring_sql(p.tree, cargs)
    rank_terms = [hangul.tsquery_literal(t) for t in p.terms if hangul.tsquery_literal(t)]
    if rank_terms:
        rank_q = " | ".join(f"({t})" for t in rank_terms)
        score, sargs = "-ts_rank_cd(s.bigrams, %s::tsquery)", [rank_q]
    else:
        rank_q, score, sargs = None, "NULL::float8", []
    rows = _page(conn, cond, score, (*sargs, *cargs), q, offset, n)
    return [(r["id"], r["score"]) for r in rows], rank_q


def _snippets(conn: Any, p: PgPlan, rows: dict[int, Any]) -> dict[int, tuple[str, list[list[int]]]]:
    out: dict[int, tuple[str, list[list[int]]]] = {}
    if p.mode == "word" and rows:
        qargs: list[Any] = []
        tsq = _word_sql(p.tree, qargs)
        for r in conn.execute(f"SELECT s.id, ts_headline('clipwatch_english', s.text, {tsq}, %s) AS h FROM segments s "
                              "WHERE s.id = ANY(%s)", (*qargs, HEADLINE_OPTIONS, list(rows))).fetchall():
            out[r["id"]] = _split_marks(r["h"])
    for sid, r in rows.items():
        if sid not in out or not out[sid][1]:
            out[sid] = _split_marks(_mark_substrings(r["text"], p.terms))
    return out


def build_hits(conn: Any, p: PgPlan, ranked: list[tuple[int, float | None]], archive_dir: Path) -> list[VideoGroup]:
    """The page's hits with their videos, tags, paired lines and keyframes in a handful of queries (not per hit)."""
    import json

    if not ranked:
        return []
    ids = [i for i, _ in ranked]
    rows = {r["id"]: r for r in conn.execute(
        "SELECT s.id, s.video_id, s.start, s.\"end\", s.text, t.kind, t.language, "
        # the line in the other language at this time (original <-> translation)
        "(SELECT s2.text FROM segments s2 JOIN transcripts t2 ON t2.id = s2.transcript_id "
        "  WHERE s2.video_id = s.video_id AND t2.kind = CASE WHEN t.kind = 'translation' THEN 'original' "
        "  ELSE 'translation' END AND s2.start < greatest(s.\"end\", s.start + 0.01) AND s2.\"end\" > s.start "
        "  ORDER BY abs(s2.start - s.start) LIMIT 1) AS paired, kf.time AS kf_time, kf.path AS kf_path "
        "FROM segments s JOIN transcripts t ON t.id = s.transcript_id "
        "LEFT JOIN LATERAL (SELECT k.time, k.path FROM keyframes k WHERE k.video_id = s.video_id "
        "  ORDER BY (k.shot_start <= s.start AND s.start < k.shot_end) DESC, abs(k.time - s.start) LIMIT 1) kf ON true "
        "WHERE s.id = ANY(%s)", (ids,)).fetchall()}
    snippets = _snippets(conn, p, rows)
    vids = list(dict.fromkeys(r["video_id"] for r in rows.values()))
    videos = {v["id"]: v for v in conn.execute("SELECT * FROM videos WHERE id = ANY(%s)", (vids,)).fetchall()}
    media = {m["sha256"]: m for m in conn.execute(
        "SELECT sha256, path, fetched_at FROM media_files WHERE sha256 = ANY(%s)",
        ([v["media_sha256"] for v in videos.values() if v["media_sha256"]],)).fetchall()}
    tag_rows: dict[str, list[Any]] = {v: [] for v in vids}
    for r in conn.execute(
            """SELECT * FROM tags t WHERE video_id = ANY(%s) AND
                 (origin = 'human' OR NOT EXISTS (SELECT 1 FROM tags h WHERE h.video_id = t.video_id
                 AND h.category = t.category AND h.origin = 'human')) ORDER BY video_id, score DESC""",
            (vids,)).fetchall():
        tag_rows[r["video_id"]].append(r)
    tags = {vid: tag_dicts(rs) for vid, rs in tag_rows.items()}  # the catalogue's shape, as SQLite's search gives
    groups: dict[str, VideoGroup] = {}
    media_abs: dict[str, Path | None] = {}
    for seg_id, score in ranked:
        r = rows.get(seg_id)
        if r is None or r["video_id"] not in videos:
            continue
        vid = r["video_id"]
        if vid not in groups:
            v = videos[vid]
            m = media.get(v["media_sha256"]) if v["media_sha256"] else None
            media_abs[vid] = (archive_dir / m["path"]) if m else None
            groups[vid] = VideoGroup(
                video_id=vid, title=v["title"], channel=v["channel"] or v["uploader"], channel_url=v["channel_url"],
                webpage_url=v["webpage_url"], upload_date=v["upload_date"],
                archived_at=(m["fetched_at"] if m else v["archived_at"]), status=v["status"], language=v["language"],
                duration=v["duration"], sha256=v["media_sha256"], media_path=m["path"] if m else None,
                tags=tags[vid])
        g = groups[vid]
        snippet, hl = snippets[seg_id]
        if r["kind"] == "screen":  # text on screen: no spoken line or translation pairs with it
            original, translation = r["text"], None
        elif r["kind"] == "translation":
            original, translation = r["paired"], r["text"]
        else:
            original, translation = r["text"], r["paired"]
        g.hits.append(Hit(
            segment_id=seg_id, video_id=vid, start=float(r["start"]), end=float(r["end"]), text=r["text"],
            kind=r["kind"], language=r["language"], snippet=snippet, highlights=hl, original=original,
            translation=translation, score=None if score is None else round(float(score), 6),
            keyframe=Keyframe(time=r["kf_time"], path=r["kf_path"]) if r["kf_path"] is not None else None,
            link=deep_link(g.webpage_url, r["start"], media_abs[vid]),
            web_path=f"/videos/{vid}?t={int(r['start'])}"))
    return list(groups.values())


def search(catalogue: Any, query: SearchQuery, *, archive_dir: Path | None = None) -> SearchResults:
    """Run a search on the PostgreSQL catalogue. QueryError only for bad parameters, never for the query text."""
    import psycopg

    t0 = time.perf_counter()
    q = validate(query)
    if archive_dir is None:
        from pipeline.config import Settings

        archive_dir = Settings().archive_dir
    archive_dir = Path(archive_dir)
    fp = q.fingerprint()
    offset = decode_cursor(q.cursor, fp) if q.cursor else 0
    if q.mode in ("semantic", "hybrid"):
        raise QueryError(f"--mode {q.mode} is not available on the PostgreSQL catalogue yet; use word or substring")
    if not re.search(r"\w", q.text):
        return SearchResults(query=q, mode="word", fts_query=None, videos=[], hit_count=0, next_cursor=None,
                             notice="the query has no searchable words (only punctuation or operators)",
                             elapsed_ms=(time.perf_counter() - t0) * 1000)
    p = plan(q.text, q.mode)
    conn = catalogue.conn
    try:
        ranked, fts_query = ranked_ids(conn, p, q, offset, q.limit + 1)
    except psycopg.errors.DataError as exc:  # a term the text-search parser refuses: search it as a phrase
        phrase = " ".join(re.sub(r'["()*^]', " ", q.text).split()) or q.text
        p = PgPlan(p.mode, ("term", phrase), [phrase],
                   f"could not parse the query ({str(exc).splitlines()[0]}); searched for it as a plain phrase instead")
        ranked, fts_query = ranked_ids(conn, p, q, offset, q.limit + 1)
    more = len(ranked) > q.limit
    ranked = ranked[: q.limit]
    groups = build_hits(conn, p, ranked, archive_dir)
    return SearchResults(
        query=q, mode=p.mode, fts_query=fts_query, notice=p.notice, videos=groups,
        hit_count=sum(len(g.hits) for g in groups),
        next_cursor=encode_cursor(offset + q.limit, fp) if more else None,
        elapsed_ms=(time.perf_counter() - t0) * 1000)


# == The shared search's SQL on PostgreSQL ===========================================================================
# ``pipeline.search`` (full text, trends, browse, semantic filters) runs one code path on either database: it plans a
# query once (``pipeline.search.query.plan``: the normalised FTS5 expression, the doubtful lines' second pass, what to
# highlight) and calls these functions where it calls ``pipeline.storage.sqlite.search`` on SQLite (the catalogue's
# ``search_sql``). Same names, same arguments, same rows; the FTS5 expression is read here into a tsquery over the
# shadow text's English tsvector (``fts``), and substrings into Hangul-bigram lookups and ILIKE (pg_trgm) over the
# shadow text. The index a plan names (``table``) becomes a condition on the flags: ``norm_fts`` the trusted lines,
# ``norm_doubt_fts`` the doubtful ones, the substring indexes every line.

from pipeline.storage.sqlite import search as _lite  # noqa: E402
from pipeline.storage.sqlite.search import BIGRAM, DOUBT, TRIGRAM, WORD, Filters  # noqa: E402  (one set of names)

NORM_TEXT = "COALESCE(s.norm, s.text)"  # the shadow text (NULL when it is the text itself), as migration 0007 indexes it
CONFIG = "clipwatch_english"
FLAG_CONDITIONS = {WORD: "s.flags = ''", DOUBT: "s.flags <> ''", TRIGRAM: "TRUE", BIGRAM: "TRUE"}


class QuerySyntaxError(ValueError):
    """An FTS5 expression this engine cannot read (as FTS5 would refuse it): the search retries it as a phrase."""


QUERY_SYNTAX_ERRORS: tuple[type[Exception], ...] = (QuerySyntaxError,)

_FTS5_TOKEN = re.compile(r'\s*(?:"((?:[^"]|"")*)("?)|(\()|(\))|(,)|(\*)|(\+)|([\w\x1a]+)|(\S))')


def parse_fts5(expr: str) -> Any:
    """An FTS5 query expression as a tree: ("phrase", text, prefix), ("and", [...]), ("or", [...]), ("not", node)
    (only inside an "and"). Precedence as FTS5's: NOT, then AND (also implicit), then OR; NEAR(...) reads as AND."""
    toks: list[tuple[str, Any]] = []
    for m in _FTS5_TOKEN.finditer(expr):
        string, closed, lpar, rpar, comma, star, plus, word, other = m.groups()
        if string is not None:
            if not closed:
                raise QuerySyntaxError("unterminated string")
            toks.append(("str", string.replace('""', '"')))
        elif lpar:
            toks.append(("(", None))
        elif rpar:
            toks.append((")", None))
        elif comma:
            toks.append((",", None))
        elif star:
            toks.append(("*", None))
        elif plus:
            toks.append(("+", None))
        elif word:
            toks.append((word, None) if word in ("AND", "OR", "NOT", "NEAR") else ("str", word))
        elif other:
            raise QuerySyntaxError(f"syntax error near \"{other}\"")
    pos = 0

    def peek(k: int = 0) -> str | None:
        return toks[pos + k][0] if pos + k < len(toks) else None

    def take(kind: str) -> Any:
        nonlocal pos
        if peek() != kind:
            raise QuerySyntaxError(f"syntax error near \"{peek() or 'the end'}\"")
        pos += 1
        return toks[pos - 1][1]

    def phrase() -> Any:
        words = [take("str")]
        prefix = False
        while True:
            if peek() == "*":
                take("*")
                prefix = True
            if peek() == "+" and not prefix:
                take("+")
                words.append(take("str"))
                continue
            break
        return ("phrase", " ".join(words), prefix)

    def primary() -> Any:
        k = peek()
        if k == "str":
            return phrase()
        if k == "(":
            take("(")
            node = or_expr()
            take(")")
            return node
        if k == "NEAR" and peek(1) == "(":
            take("NEAR")
            take("(")
            items = []
            while peek() == "str":
                items.append(phrase())
            if not items:
                raise QuerySyntaxError("empty NEAR()")
            if peek() == ",":
                take(",")
                take("str")  # the distance: NEAR is read as AND here
            take(")")
            return items[0] if len(items) == 1 else ("and", items)
        raise QuerySyntaxError(f"syntax error near \"{k or 'the end'}\"")

    def not_expr() -> Any:
        node = primary()
        while peek() == "NOT":
            take("NOT")
            node = ("and", [node, ("not", primary())])
        return node

    def and_expr() -> Any:
        items = [not_expr()]
        while peek() in ("AND", "str", "(", "NEAR"):
            if peek() == "AND":
                take("AND")
            items.append(not_expr())
        return items[0] if len(items) == 1 else ("and", items)

    def or_expr() -> Any:
        items = [and_expr()]
        while peek() == "OR":
            take("OR")
            items.append(and_expr())
        return items[0] if len(items) == 1 else ("or", items)

    if not toks:
        raise QuerySyntaxError("empty query")
    tree = or_expr()
    if pos != len(toks):
        raise QuerySyntaxError(f"syntax error near \"{peek()}\"")
    return tree


def _prefix_literal(word: str) -> str:
    return "'" + word.replace("'", "''").replace("\\", "\\\\") + "':*"


def _tsquery_sql(node: Any, args: list[Any]) -> str:
    """A tsquery expression (over the English configuration) for a parsed FTS5 tree."""
    if node[0] == "phrase":
        _, text, prefix = node
        if not prefix:
            args.append(text)
            return f"phraseto_tsquery('{CONFIG}', ?)"
        words = re.findall(r"\w+", text)
        if not words:
            args.append(text)
            return f"phraseto_tsquery('{CONFIG}', ?)"
        args.append(_prefix_literal(words[-1]))
        last = f"to_tsquery('{CONFIG}', ?)"
        if len(words) == 1:
            return last
        args.insert(len(args) - 1, " ".join(words[:-1]))
        return f"tsquery_phrase(phraseto_tsquery('{CONFIG}', ?), {last})"
    if node[0] == "not":
        return f"(!! {_tsquery_sql(node[1], args)})"
    joiner = " && " if node[0] == "and" else " || "
    return "(" + joiner.join(_tsquery_sql(c, args) for c in node[1]) + ")"


def _substring_cond(node: Any, args: list[Any], rank: list[str]) -> str:
    """A condition over the shadow text: Hangul-only terms of two or more syllables through the bigram index (one
    GIN lookup; ranked by it), every other term as ILIKE (pg_trgm from three characters)."""
    if node[0] in ("phrase", "term"):
        text = node[1]
        tsq = hangul.tsquery_literal(text)
        if tsq is not None:
            args.append(tsq)
            rank.append(tsq)
            return "s.bigrams @@ ?::tsquery"
        args.append(_like(text))
        return f"{NORM_TEXT} ILIKE ?"
    if node[0] == "not":
        return f"NOT ({_substring_cond(node[1], args, [])})"
    joiner = " AND " if node[0] == "and" else " OR "
    return "(" + joiner.join(_substring_cond(c, args, rank) for c in node[1]) + ")"


@dataclass
class PgMatch:
    """A plan's match as PostgreSQL runs it (``match_of``)."""
    kind: str                   # word | substring
    tree: Any
    tsquery: str | None = None  # word: the tsquery text, computed once per search (``_condition``)


def match_of(p: Any) -> PgMatch:
    """What ``match_ids`` and friends take for a plan (SQLite's take ``p.match``, the FTS5 expression)."""
    if p.mode == "word":
        return PgMatch("word", parse_fts5(p.match))
    if p.mode == "bigram":
        tree = getattr(p, "tree", None) or ("and", [("term", t) for t in p.substrings])
        return PgMatch("substring", tree)
    return PgMatch("substring", parse_fts5(p.match))


def _condition(db: Any, m: PgMatch, ranked: bool) -> tuple[str, list[Any], str, list[Any]]:
    """(condition, its arguments, score expression, its arguments) on segments ``s``."""
    if m.kind == "word":
        if m.tsquery is None:
            args: list[Any] = []
            expr = _tsquery_sql(m.tree, args)
            m.tsquery = db.execute(f"SELECT ({expr})::text AS q", args).fetchone()["q"]
        score = "-ts_rank_cd(s.fts, ?::tsquery)" if ranked else "NULL::float8"
        return "s.fts @@ ?::tsquery", [m.tsquery], score, [m.tsquery] if ranked else []
    args = []
    rank: list[str] = []
    cond = _substring_cond(m.tree, args, rank)
    if ranked and rank:
        return cond, args, "-ts_rank_cd(s.bigrams, ?::tsquery)", [" | ".join(f"({t})" for t in rank)]
    return cond, args, "NULL::float8", []


def _pg_filters(filters: Filters) -> tuple[list[str], list[Any]]:
    return filters.sql(ci_eq=lambda col: f"lower({col}) = lower(?)")


def _order_by(sort: str, ranked: bool, newest_first: bool = False) -> str:
    if sort in ("date", "date_asc"):
        return _order(sort)
    if ranked:
        return "score NULLS LAST, s.id"
    return "s.id DESC" if newest_first else "s.id"


def match_ids(db: Any, table: str, match: PgMatch, filters: Filters, sort: str, offset: int, n: int,
              ranked: bool = True, newest_first: bool = False) -> list[tuple[int, float | None]]:
    """(segment id, score or None) of the segments of ``table`` (trusted, doubtful or every line) that ``match``
    matches, filtered, ordered, one page: SQLite's ``match_ids`` on PostgreSQL (score: the negated ts_rank_cd).

    Filtered: the matches are computed once (a materialised CTE), then joined to the videos and tags, so a filter
    never makes PostgreSQL probe the text index once per video (which it chose, with a wrong row estimate, for date
    ranges: 30x slower)."""
    cond, cargs, score, sargs = _condition(db, match, ranked)
    where = f"{FLAG_CONDITIONS[table]} AND {cond}"
    conds, fargs = _pg_filters(filters)
    order = _order_by(sort, ranked, newest_first)
    if not conds and sort == "relevance":
        sql = f"SELECT s.id, {score} AS score FROM segments s WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
        rows = db.execute(sql, (*sargs, *cargs, n, offset)).fetchall()
    else:
        sql = (f"WITH m AS MATERIALIZED (SELECT s.id, s.video_id, s.transcript_id, s.start, {score} AS score "
               f"FROM segments s WHERE {where}) "
               "SELECT s.id, s.score FROM m s JOIN transcripts t ON t.id = s.transcript_id "
               f"JOIN videos v ON v.id = s.video_id {'WHERE ' + ' AND '.join(conds) if conds else ''} "
               f"ORDER BY {order} LIMIT ? OFFSET ?")
        rows = db.execute(sql, (*sargs, *cargs, *fargs, n, offset)).fetchall()
    return [(r["id"], r["score"]) for r in rows]


def count_matches(db: Any, table: str, match: PgMatch, filters: Filters) -> int:
    cond, cargs, _, _ = _condition(db, match, False)
    conds, fargs = _pg_filters(filters)
    sql = (f"SELECT count(*) AS n FROM segments s JOIN transcripts t ON t.id = s.transcript_id "
           f"JOIN videos v ON v.id = s.video_id WHERE {FLAG_CONDITIONS[table]} AND {cond}"
           f"{''.join(' AND ' + c for c in conds)}")
    return int(db.execute(sql, (*cargs, *fargs)).fetchone()["n"])


def term_docs(db: Any, term: str) -> int:
    """Lines holding ``term``: PostgreSQL keeps no vocabulary table, so every query is ranked (0 = not common)."""
    return 0


def filter_ids(db: Any, filters: Filters, ids: list[int]) -> set[int]:
    """The segments among ``ids`` that still exist and pass the filters."""
    if not ids:
        return set()
    conds, args = _pg_filters(filters)
    sql = ("SELECT s.id FROM segments s JOIN transcripts t ON t.id = s.transcript_id JOIN videos v ON v.id = s.video_id "
           f"WHERE s.id = ANY(?){''.join(' AND ' + c for c in conds)}")
    return {r["id"] for r in db.execute(sql, (list(ids), *args))}


# -- hit rows --------------------------------------------------------------------------------------------------------

def segment_rows(db: Any, ids: list[int]) -> dict[int, Any]:
    if not ids:
        return {}
    return {r["id"]: r for r in db.execute(
        'SELECT s.id, s.video_id, s.start, s."end", s.text, s.flags, t.kind, t.language, w.words FROM segments s '
        "JOIN transcripts t ON t.id = s.transcript_id LEFT JOIN segment_words w ON w.segment_id = s.id "
        "WHERE s.id = ANY(?)", (list(ids),)).fetchall()}


video_row = _lite.video_row
media_row = _lite.media_row


def paired_line(db: Any, video_id: str, kind: str, start: float, end: float) -> str | None:
    row = db.execute(
        "SELECT s.text FROM segments s JOIN transcripts t ON t.id = s.transcript_id "
        'WHERE s.video_id = ? AND t.kind = ? AND s.start < ? AND s."end" > ? ORDER BY abs(s.start - ?), s.id LIMIT 1',
        (video_id, kind, max(end, start + 0.01), start, start)).fetchone()
    return row["text"] if row else None


def nearest_keyframe(db: Any, video_id: str, t: float) -> Any:
    return db.execute(
        "SELECT time, path FROM keyframes WHERE video_id = ? "
        "ORDER BY (shot_start <= ? AND ? < shot_end) DESC, abs(time - ?), id LIMIT 1",
        (video_id, t, t, t)).fetchone()


def segment_texts(db: Any, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {r["id"]: r["text"] for r in db.execute("SELECT id, text FROM segments WHERE id = ANY(?)", (list(ids),))}


def segment_ids(db: Any) -> list[int]:
    """Every segment, flagged or not (doubtful lines stay findable), in id order."""
    return [r["id"] for r in db.execute("SELECT id FROM segments ORDER BY id")]


# -- trends ----------------------------------------------------------------------------------------------------------

PERIODS = {
    # the Monday of the week (ISO weeks start on Monday, as SQLite's 'weekday 1' after '-6 days')
    "week": "to_char(date_trunc('week', to_date(replace(v.upload_date, '/', '-'), 'YYYY-MM-DD')), 'YYYY-MM-DD')",
    "month": "substr(v.upload_date, 1, 7)",
    "year": "substr(v.upload_date, 1, 4)",
}
DATED = {"week": r"v.upload_date ~ '^[0-9]{4}[-/][0-9]{2}[-/][0-9]{2}'", "month": "v.upload_date ~ '^[0-9]{4}-'",
         "year": "v.upload_date ~ '^[0-9]{4}-'"}


def mention_counts(db: Any, tables: Iterable[tuple[str, PgMatch]], by: str, filters: Filters) -> list[dict[str, Any]]:
    """Hits and videos per (period, channel) for each (table, match); period None for videos without a date."""
    parts, args = [], []
    for table, m in tables:
        cond, cargs, _, _ = _condition(db, m, False)
        parts.append(f"SELECT s.id FROM segments s WHERE {FLAG_CONDITIONS[table]} AND {cond}")
        args += cargs
    if not parts:
        return []
    conds, fargs = _pg_filters(filters)
    sql = (f"SELECT CASE WHEN {DATED[by]} THEN {PERIODS[by]} END AS period, "
           "COALESCE(v.channel, v.uploader, '') AS channel, count(*) AS hits, count(DISTINCT s.video_id) AS videos "
           f"FROM ({' UNION '.join(parts)}) m JOIN segments s ON s.id = m.id JOIN transcripts t ON t.id = s.transcript_id "
           f"JOIN videos v ON v.id = s.video_id {'WHERE ' + ' AND '.join(conds) if conds else ''} "
           "GROUP BY 1, 2 ORDER BY 1, 2")
    return [{"period": r["period"], "channel": r["channel"], "hits": int(r["hits"]), "videos": int(r["videos"])}
            for r in db.execute(sql, (*args, *fargs)).fetchall()]


# -- browse ----------------------------------------------------------------------------------------------------------

def channels(db: Any) -> list[Any]:
    return db.execute(
        """SELECT COALESCE(channel, uploader, '(unknown channel)') AS channel, max(channel_id) AS channel_id,
                  max(channel_url) AS channel_url, count(*) AS videos,
                  min(upload_date) AS first_upload, max(upload_date) AS last_upload,
                  sum(CASE WHEN status = 'removed' THEN 1 ELSE 0 END) AS removed, max(archived_at) AS last_archived
           FROM videos GROUP BY 1 ORDER BY videos DESC, lower(COALESCE(channel, uploader, '(unknown channel)')), 1"""
    ).fetchall()


removed_videos = _lite.removed_videos   # portable SQL: run through the catalogue's ``db``
recent_videos = _lite.recent_videos
