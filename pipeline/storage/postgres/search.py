"""`clipwatch search` (and trends, browse, semantic filters) on the PostgreSQL catalogue: the functions of
``pipeline.storage.sqlite.search``, with the same names, arguments and rows, on PostgreSQL's indexes.

``pipeline.search`` runs one code path on either database: it plans a query once (``pipeline.search.query.plan``:
the normalised FTS5 expression over the shadow text, the doubtful lines' second pass, what to highlight) and calls
the catalogue's ``search_index`` (this module bound to its connection). Here that plan is read into PostgreSQL's terms (migration 0007):

* Words: the FTS5 expression (``"phrases"``, ``AND``, ``OR``, ``NOT``, parentheses, ``prefix*``; ``NEAR`` read as
  AND) becomes a ``tsquery`` over the English ``tsvector`` of the shadow text (``fts``: stemmed, accents folded);
  hits are ranked with ``ts_rank_cd`` (the score is its negation, so lower is better as with bm25).
* Korean/CJK substrings: each term of two or more Hangul syllables is a phrase of syllable bigrams over the
  ``bigrams`` column (one GIN lookup for a 2-syllable word); other terms are ``ILIKE`` substrings of the shadow text,
  index-backed by ``pg_trgm`` from three characters.
* The index a plan names becomes a condition on the flags: ``norm_fts`` the trusted lines, ``norm_doubt_fts`` the
  doubtful (flagged) ones, listed after them; the substring indexes read every line.

Hits, snippets, marks and word-timed starts are then built by ``pipeline.search.fulltext`` from the rows these
functions return, as on SQLite, so ``--json`` prints the same shape and, for the same catalogue, the same hits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from pipeline.storage.postgres import hangul
from pipeline.storage.searchindex import (  # one set of names, and the SQL both dialects run as it is
    BIGRAM,
    DOUBT,
    RECENT_VIDEOS_SQL,
    REMOVED_VIDEOS_SQL,
    TAG_ROWS_SQL,
    TRIGRAM,
    WORD,
    Filters,
    order_by,
)


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


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
            near = word == "NEAR" and expr[m.end():].lstrip().startswith("(")  # else NEAR is a plain word, as in FTS5
            toks.append((word, None) if word in ("AND", "OR", "NOT") or near else ("str", word))
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
        explicit = [True]
        while peek() in ("AND", "str", "(", "NEAR"):
            explicit.append(peek() == "AND")
            if explicit[-1]:
                take("AND")
            items.append(not_expr())
        # FTS5 drops a phrase without a token ("") that is joined by an implicit AND, and matches nothing for one
        # joined by an explicit AND (see _without_empty)
        keep = [it for i, it in enumerate(items) if not (
            _empty(it) and ((i > 0 and not explicit[i]) or (i == 0 and len(items) > 1 and not explicit[1])))]
        items = keep or items
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


def _empty(node: Any) -> bool:
    return node[0] == "phrase" and not re.search(r"\w", node[1])


def _prefix_literal(word: str) -> str:
    return "'" + word.replace("'", "''").replace("\\", "\\\\") + "':*"


def _without_empty(node: Any) -> Any:
    """The tree with phrases that hold no word (``""``: FTS5 matches nothing for them) taken out; None when nothing
    can match (PostgreSQL would read an empty phrase as "no condition" instead)."""
    if node[0] in ("phrase", "term"):
        return node if re.search(r"\w", node[1]) else None
    if node[0] == "not":
        inner = _without_empty(node[1])
        return ("not", inner) if inner is not None else ("all",)
    items = [_without_empty(c) for c in node[1]]
    if node[0] == "and":
        if any(c is None for c in items):
            return None
        items = [c for c in items if c != ("all",)]
    else:
        items = [c for c in items if c is not None]
    if not items:
        return None
    return items[0] if len(items) == 1 else (node[0], items)


def _tsquery_sql(node: Any, args: list[Any]) -> str:
    """A tsquery expression (over the English configuration) for a parsed FTS5 tree."""
    if node[0] == "phrase":
        _, text, prefix = node
        if not prefix:
            args.append(text)
            return f"phraseto_tsquery('{CONFIG}', %s)"
        words = re.findall(r"\w+", text)
        if not words:
            args.append(text)
            return f"phraseto_tsquery('{CONFIG}', %s)"
        args.append(_prefix_literal(words[-1]))
        last = f"to_tsquery('{CONFIG}', %s)"
        if len(words) == 1:
            return last
        args.insert(len(args) - 1, " ".join(words[:-1]))
        return f"tsquery_phrase(phraseto_tsquery('{CONFIG}', %s), {last})"
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
            return "s.bigrams @@ %s::tsquery"
        args.append(_like(text))
        return f"{NORM_TEXT} ILIKE %s"
    if node[0] == "not":
        return f"NOT ({_substring_cond(node[1], args, [])})"
    joiner = " AND " if node[0] == "and" else " OR "
    return "(" + joiner.join(_substring_cond(c, args, rank) for c in node[1]) + ")"


def _rank_terms(p: Any) -> str | None:
    """What a word query is ranked by (a to_tsquery text): its own words OR-ed, each as the query wrote it (the first
    of its unit's alternatives), and its prefixes. Ranking by the match itself costs up to 10x when it holds
    alternative phrases (a long word's compound splits, "Mr" = "mister"): ts_rank_cd then evaluates every
    alternative's positions on every matching line (700 ms instead of 70 for one 11-letter word in 24,000 lines)."""
    words = list(dict.fromkeys(w for unit in (p.units or []) if unit and unit[0] for w in unit[0]))
    terms = [_prefix_literal(w)[:-2] for w in words] + [_prefix_literal(x) for x in (p.prefixes or [])]
    return " | ".join(terms) or None


@dataclass
class PgMatch:
    """A plan's match as PostgreSQL runs it (``match_of``)."""
    kind: str                   # word | substring
    tree: Any
    tsquery: str | None = None  # word: the tsquery text, computed once per search (``_condition``)
    rank_terms: str | None = None  # word: what it is ranked by (``_rank_terms``), as to_tsquery reads it
    rank: str | None = None        # word: that tsquery, computed with ``tsquery``


def match_of(p: Any) -> PgMatch:
    """What ``match_ids`` and friends take for a plan (SQLite's take ``p.match``, the FTS5 expression)."""
    if p.mode == "word":
        return PgMatch("word", parse_fts5(p.match), rank_terms=_rank_terms(p))
    if p.mode == "bigram":
        tree = getattr(p, "tree", None) or ("and", [("term", t) for t in p.substrings])
        return PgMatch("substring", tree)
    return PgMatch("substring", parse_fts5(p.match))


def _condition(db: Any, m: PgMatch, ranked: bool) -> tuple[str, list[Any], str, list[Any]]:
    """(condition, its arguments, score expression, its arguments) on segments ``s``."""
    if m.kind == "word":
        if m.tsquery is None:
            tree = _without_empty(m.tree)
            if tree is None:
                return "FALSE", [], "NULL::float8", []
            args: list[Any] = []
            expr = _tsquery_sql(tree, args)
            if m.rank_terms:
                rank, rank_args = f"to_tsquery('{CONFIG}', %s)", [m.rank_terms]
            else:
                rank, rank_args = expr, list(args)
            row = db.execute(f"SELECT ({expr})::text AS q, ({rank})::text AS r", [*args, *rank_args]).fetchone()
            m.tsquery, m.rank = row["q"], row["r"]
        score = "-ts_rank_cd(s.fts, %s::tsquery)" if ranked else "NULL::float8"
        return "s.fts @@ %s::tsquery", [m.tsquery], score, [m.rank] if ranked else []
    tree = _without_empty(m.tree)
    if tree is None:
        return "FALSE", [], "NULL::float8", []
    args = []
    bigram_terms: list[str] = []
    cond = _substring_cond(tree, args, bigram_terms)
    if ranked and bigram_terms:
        return cond, args, "-ts_rank_cd(s.bigrams, %s::tsquery)", [" | ".join(f"({t})" for t in bigram_terms)]
    return cond, args, "NULL::float8", []


def _pg_filters(filters: Filters) -> tuple[list[str], list[Any]]:
    return filters.sql(ph="%s", ci_eq=lambda col: f"lower({col}) = lower(%s)")


def _order_by(sort: str, ranked: bool, newest_first: bool = False) -> str:
    if sort != "relevance":
        return order_by(sort, ranked)  # by upload date: the same portable SQL
    if ranked:
        return "score NULLS LAST, s.id"
    return "s.id DESC" if newest_first else "s.id"


RUM_INDEX = "segments_fts_rum"  # migration 0008, where the server has the RUM extension
# A query of several words with fewer expected matches than this (the planner's own estimate): ts_rank_cd over the
# GIN index, exact and cheap; more, or a single word: the RUM index, which hands the matches over best first. RUM
# walks every posting of every term, so phrases and ANDs of common words (a few matches out of long lists) are
# slower on it (240 ms against 37 ms p95 at 10 million segments), while one word is far faster (75 ms against 560).
EXACT_BELOW = 5000
PAGE_BY_INDEX = ("enable_sort", "enable_material", "enable_seqscan")  # planner settings off for one RUM-ranked page


def rum_ranking(db: Any) -> bool:
    """Whether the catalogue has migration 0008's RUM index (asked per search, well under a millisecond, so an index
    built later by an administrator is used at once)."""
    return bool(db.execute("SELECT to_regclass(%s) IS NOT NULL AS r", [RUM_INDEX]).fetchone()["r"])


def _ranked_in_index(db: Any, table: str, match: PgMatch, cond: str, cargs: list[Any], ranked: bool, sort: str) -> bool:
    """A trusted-lines word search by relevance, on a catalogue with the RUM index, of one word or with a planner
    estimate of EXACT_BELOW matches or more: rank inside the index instead of ts_rank_cd over every match."""
    if not (ranked and sort == "relevance" and table == WORD and match.kind == "word" and cond != "FALSE"):
        return False
    if not rum_ranking(db):
        return False
    if db.execute("SELECT numnode(%s::tsquery) = 1 AS one", [match.tsquery]).fetchone()["one"]:
        return True  # one word: RUM reads its posting list best first, fast however many or few lines hold it
    plan = db.execute(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM segments s WHERE {FLAG_CONDITIONS[WORD]} AND {cond}",
                      cargs).fetchone()["QUERY PLAN"]
    return plan[0]["Plan"]["Plan Rows"] >= EXACT_BELOW


def _index_order(db: Any, sql: str, args: tuple) -> list[Any]:
    """Rows of ``sql`` (ORDER BY a RUM distance, LIMIT) in the index's own order, with sorts, materialisation and
    whole-table scans off for this one query. Then PostgreSQL can only read the matches best first from the RUM index
    and join each to its video and transcript by key, stopping when the page is full: a filter costs the matches it
    rejects on the way, not every match (left to itself, it misjudges filters on expressions such as date ranges and
    probes the text index once per video, then sorts: seconds). It also keeps the pages of one query in one order:
    many matches tie on the distance, and a sort of its own for a deeper page could order the ties differently; a
    tie-breaker column would make it read every tied match."""
    with db.transaction():
        for setting in PAGE_BY_INDEX:
            db.execute(f"SET LOCAL {setting} = off")
        rows = db.execute(sql, args).fetchall()
        for setting in PAGE_BY_INDEX:  # the caller's transaction, if any, goes on as it was
            db.execute(f"RESET {setting}")
    return rows


def match_ids(db: Any, table: str, match: PgMatch, filters: Filters, sort: str, offset: int, n: int,
              ranked: bool = True, newest_first: bool = False) -> list[tuple[int, float | None]]:
    """(segment id, score or None) of the segments of ``table`` (trusted, doubtful or every line) that ``match``
    matches, filtered, ordered, one page: SQLite's ``match_ids`` on PostgreSQL. The score is lower-is-better as
    SQLite's bm25: the negated ts_rank_cd, or RUM's ``<=>`` distance when the RUM index ranks (``_ranked_in_index``).

    Filtered: the matches are computed once (a materialised CTE), then joined to the videos and tags, so a filter
    never makes PostgreSQL probe the text index once per video (which it chose, with a wrong row estimate, for date
    ranges: 30x slower)."""
    cond, cargs, score, sargs = _condition(db, match, ranked)
    where = f"{FLAG_CONDITIONS[table]} AND {cond}"
    conds, fargs = _pg_filters(filters)
    if _ranked_in_index(db, table, match, cond, cargs, ranked, sort):
        joins = "JOIN transcripts t ON t.id = s.transcript_id JOIN videos v ON v.id = s.video_id " if conds else ""
        sql = (f"SELECT s.id, s.fts <=> %s::tsquery AS score FROM segments s {joins}WHERE {where}"
               f"{''.join(' AND ' + c for c in conds)} ORDER BY score LIMIT %s OFFSET %s")
        rows = _index_order(db, sql, (match.tsquery, *cargs, *fargs, n, offset))
        return [(r["id"], r["score"]) for r in rows]
    order = _order_by(sort, ranked, newest_first)
    if not conds and sort == "relevance":
        sql = f"SELECT s.id, {score} AS score FROM segments s WHERE {where} ORDER BY {order} LIMIT %s OFFSET %s"
        rows = db.execute(sql, (*sargs, *cargs, n, offset)).fetchall()
    else:
        sql = (f"WITH m AS MATERIALIZED (SELECT s.id, s.video_id, s.transcript_id, s.start, {score} AS score "
               f"FROM segments s WHERE {where}) "
               "SELECT s.id, s.score FROM m s JOIN transcripts t ON t.id = s.transcript_id "
               f"JOIN videos v ON v.id = s.video_id {'WHERE ' + ' AND '.join(conds) if conds else ''} "
               f"ORDER BY {order} LIMIT %s OFFSET %s")
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
    """Lines holding ``term`` (an index form, e.g. "nuclear", "5"), estimated from PostgreSQL's own statistics of the
    word index (ANALYZE keeps the most common lexemes of ``fts`` and their share of the rows): what SQLite reads from
    its FTS5 vocabulary. 0 when the word is not among them (not common), or the table was never analysed."""
    row = db.execute(
        "WITH lex AS (SELECT (tsvector_to_array(to_tsvector('" + CONFIG + "', %s)))[1] AS lexeme), "
        "st AS (SELECT unnest(most_common_elems::text::text[]) AS elem, unnest(most_common_elem_freqs) AS freq "
        "FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'segments' AND attname = 'fts') "
        "SELECT (st.freq * GREATEST(c.reltuples, 0))::bigint AS docs FROM st, lex, pg_class c "
        "WHERE st.elem = lex.lexeme AND c.oid = 'segments'::regclass", (term,)).fetchone()
    return int(row["docs"]) if row and row["docs"] is not None else 0


def filter_ids(db: Any, filters: Filters, ids: list[int]) -> set[int]:
    """The segments among ``ids`` that still exist and pass the filters."""
    if not ids:
        return set()
    conds, args = _pg_filters(filters)
    sql = ("SELECT s.id FROM segments s JOIN transcripts t ON t.id = s.transcript_id JOIN videos v ON v.id = s.video_id "
           f"WHERE s.id = ANY(%s){''.join(' AND ' + c for c in conds)}")
    return {r["id"] for r in db.execute(sql, (list(ids), *args))}


# -- hit rows --------------------------------------------------------------------------------------------------------

def segment_rows(db: Any, ids: list[int]) -> dict[int, Any]:
    if not ids:
        return {}
    return {r["id"]: r for r in db.execute(
        'SELECT s.id, s.video_id, s.start, s."end", s.text, s.flags, t.kind, t.language, w.words FROM segments s '
        "JOIN transcripts t ON t.id = s.transcript_id LEFT JOIN segment_words w ON w.segment_id = s.id "
        "WHERE s.id = ANY(%s)", (list(ids),)).fetchall()}


def video_rows(db: Any, video_ids: list[str]) -> dict[str, Any]:
    if not video_ids:
        return {}
    return {r["id"]: r for r in db.execute("SELECT * FROM videos WHERE id = ANY(%s)", (list(video_ids),))}


def media_rows(db: Any, sha256s: list[str | None]) -> dict[str, Any]:
    wanted = [s for s in dict.fromkeys(sha256s) if s]
    if not wanted:
        return {}
    return {r["sha256"]: r for r in db.execute("SELECT sha256, path, fetched_at FROM media_files WHERE sha256 = ANY(%s)",
                                               (wanted,))}


def tag_rows(db: Any, video_ids: list[str]) -> dict[str, list[Any]]:
    """Effective tags (a human correction wins over the model for its category) of each video, by score."""
    out: dict[str, list[Any]] = {v: [] for v in video_ids}
    if not video_ids:
        return out
    for r in db.execute(TAG_ROWS_SQL.format(in_ids="= ANY(%s)"), (list(video_ids),)):
        out.setdefault(r["video_id"], []).append(r)
    return out


def paired_lines(db: Any, wanted: list[tuple[Any, str, str, float, float]]) -> dict[Any, str | None]:
    """``paired_line`` for a page of hits in one query: (key, video id, kind wanted, start, end) -> {key: text}."""
    if not wanted:
        return {}
    keys = list(range(len(wanted)))
    rows = db.execute(
        "SELECT w.k, p.text FROM unnest(%s::int[], %s::text[], %s::text[], %s::float8[], %s::float8[]) AS w(k, vid, kind, a, b) "
        "LEFT JOIN LATERAL (SELECT s.text FROM segments s JOIN transcripts t ON t.id = s.transcript_id "
        '  WHERE s.video_id = w.vid AND t.kind = w.kind AND s.start < w.b AND s."end" > w.a '
        "  ORDER BY abs(s.start - w.a), s.id LIMIT 1) p ON true",
        (keys, [w[1] for w in wanted], [w[2] for w in wanted], [float(w[3]) for w in wanted],
         [max(float(w[4]), float(w[3]) + 0.01) for w in wanted])).fetchall()
    return {wanted[r["k"]][0]: r["text"] for r in rows}


def nearest_keyframes(db: Any, wanted: list[tuple[Any, str, float]]) -> dict[Any, Any]:
    """``nearest_keyframe`` for a page of hits in one query: (key, video id, time) -> {key: (time, path) or None}."""
    if not wanted:
        return {}
    rows = db.execute(
        "SELECT w.k, kf.time, kf.path FROM unnest(%s::int[], %s::text[], %s::float8[]) AS w(k, vid, t) "
        "LEFT JOIN LATERAL (SELECT k.time, k.path FROM keyframes k WHERE k.video_id = w.vid "
        "  ORDER BY (k.shot_start <= w.t AND w.t < k.shot_end) DESC, abs(k.time - w.t), k.id LIMIT 1) kf ON true",
        (list(range(len(wanted))), [w[1] for w in wanted], [float(w[2]) for w in wanted])).fetchall()
    return {wanted[r["k"]][0]: ((r["time"], r["path"]) if r["path"] is not None else None) for r in rows}


def segment_texts(db: Any, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {r["id"]: r["text"] for r in db.execute("SELECT id, text FROM segments WHERE id = ANY(%s)", (list(ids),))}


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
    """Hits and videos per (period, channel) for each (table, match); period None for videos without a date.

    Lines are counted per video first (one pass over the matching lines: the index conditions OR-ed, so PostgreSQL
    reads each partial index once), then each video's date and channel are looked up once, not once per line."""
    parts, args = [], []
    for table, m in tables:
        cond, cargs, _, _ = _condition(db, m, False)
        parts.append(f"({FLAG_CONDITIONS[table]} AND {cond})")
        args += cargs
    if not parts:
        return []
    conds, fargs = _pg_filters(filters)
    joins = ("JOIN transcripts t ON t.id = s.transcript_id JOIN videos v ON v.id = s.video_id " if conds else "")
    sql = (f"SELECT CASE WHEN {DATED[by]} THEN {PERIODS[by]} END AS period, "
           "COALESCE(v.channel, v.uploader, '') AS channel, sum(m.n) AS hits, count(*) AS videos "
           f"FROM (SELECT s.video_id, count(*) AS n FROM segments s {joins}WHERE ({' OR '.join(parts)})"
           f"{''.join(' AND ' + c for c in conds)} GROUP BY s.video_id) m JOIN videos v ON v.id = m.video_id "
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


def removed_videos(db: Any, limit: int = 500) -> list[Any]:
    return db.execute(REMOVED_VIDEOS_SQL.format(ph="%s"), (limit,)).fetchall()


def recent_videos(db: Any, limit: int = 100) -> list[Any]:
    return db.execute(RECENT_VIDEOS_SQL.format(ph="%s"), (limit,)).fetchall()
