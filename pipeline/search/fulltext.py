"""Word search over the catalogue, and the hits every search mode returns (``Hit``, ``VideoGroup``, ``SearchResults``).

The one entry is ``pipeline.search.facade.search(store, SearchQuery) -> SearchResults``, which runs this module's
word ranking or ``hybrid``'s semantic / fused ranking and builds the hits here.

Indexes (all over the normalised shadow text, ``pipeline/text/normalize.py``; SQL in
``pipeline/storage/sqlite/search.py``):

* word search (unicode61, diacritics folded) with FTS5's query language: ``"phrases"``, ``OR``, ``NOT``,
  ``AND``, ``prefix*``, ``NEAR(a b, 5)``, parentheses; numbers, abbreviations and compounds match however
  they were written ("five" = "5", "Mr." = "mister", "cease-fire" = "ceasefire");
* substring search for Hangul, kana and CJK ideographs (Korean attaches particles to words, so "핵무력" must
  find "핵무력을"): trigrams for terms of three characters or more, Hangul bigrams for shorter ones.

Lines flagged as possible hallucinations are searched too, listed after the trusted lines and marked
``doubtful``. A query the engine cannot parse is retried as one plain phrase and the result says so in
``notice``; sqlite errors never reach the caller. Each hit carries a snippet centred on the match with
highlight offsets, the time of the first matched word (word timestamps; else the line's start), the nearest
keyframe, the line in the other language and a deep link to that second.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field, replace
from html import escape
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlsplit

from pipeline.config import Settings
from pipeline.domain import tag_dicts, unpack_words
from pipeline.search.query import (  # noqa: F401  (re-exported: the public names of the search)
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MODES,
    SORTS,
    SOURCES,
    STATUSES,
    Plan,
    SearchQuery,
    decode_cursor,
    encode_cursor,
    has_cjk,
    parse_date,
    phrase_plan,
    validate,
)
from pipeline.search.query import (
    plan as make_plan,
)
from pipeline.sources.comments import KIND as COMMENTS
from pipeline.sources.comments import Comment, read_comments
from pipeline.storage.base import Catalogue
from pipeline.text import normalize

log = logging.getLogger(__name__)

# A query whose every word is in more lines than this is listed newest first instead of by bm25: ranking costs
# ~1.5 µs per matching line (150 ms for a word in 100,000 lines), and a scholar narrows such a query anyway.
COMMON_DOCS = 30_000
SNIPPET_WORDS = 16          # words of context around the match in a snippet
SNIPPET_BEFORE = 5          # of which before the first matched word
HL_OPEN, HL_CLOSE = "\x02", "\x03"
YOUTUBE_HOSTS = ("youtube.com", "youtu.be", "youtube-nocookie.com")


@dataclass
class Keyframe:
    time: float
    path: str  # relative to the archive root


@dataclass
class Hit:
    segment_id: int
    video_id: str
    start: float                      # the first matched word's start (word timings), else the line's start
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
    segment_start: float = 0.0        # where the whole line starts
    timed_by: str = "segment"         # word: start is the matched word's own time; segment: the line's start
    doubtful: bool = False            # the line was flagged (possible hallucination): shown, ranked last
    flags: list[str] = field(default_factory=list)
    speaker: str | None = None        # who speaks the line (S1, S2, … of its video), None when not known (issue 24)
    air_time: str | None = None       # when it aired (ISO 8601 UTC), for a recorded live stream (issue 25)
    author: str | None = None         # a comment's author, as the platform gave it (kind "comments", issue 23)
    posted_at: str | None = None      # a comment's time (ISO 8601 UTC); a comment has no media time

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
    mode: str                         # effective: word | substring | bigram | semantic | hybrid
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
                hd["segment_start"] = round(h.segment_start, 3)
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




# -- matching in the original text ---------------------------------------------------

@dataclass
class Match:
    spans: list[tuple[int, int]]      # matched character spans in the line, in order
    first: int | None                 # character offset of the first matched word


def locate(text: str, p: Plan | None) -> Match:
    """Where the plan's words (or substrings) occur in the original line."""
    if p is None:
        return Match([], None)
    spans: list[tuple[int, int]] = []
    if p.mode == "word":
        words = normalize.analyze(text)
        seq = [(k, f) for k, w in enumerate(words) for f in w.forms if f]
        forms = [f for _, f in seq]
        for unit in p.units:
            for alt in unit:
                n = len(alt)
                if not n:
                    continue
                for i in range(len(forms) - n + 1):
                    if tuple(forms[i:i + n]) == alt:
                        a, b = seq[i][0], seq[i + n - 1][0]
                        # a number phrase's trailing words ("five" of "twenty-five") belong to the match too
                        while b + 1 < len(words) and words[b + 1].forms == [""]:
                            b += 1
                        spans.append((words[a].start, words[b].end))
        for pre in p.prefixes:
            for k, w in enumerate(words):
                if any(f.startswith(pre) for f in w.forms if f):
                    spans.append((w.start, w.end))
    else:
        low = normalize.fold(text)
        same_len = len(low) == len(text)
        for t in p.substrings:
            cands = [normalize.fold(t)] + normalize.korean_alternates(t) if t else []
            for c in cands:
                c = normalize.fold(c)
                if not c:
                    continue
                hay = low if same_len else text.lower()
                i = hay.find(c)
                while i >= 0:
                    spans.append((i, i + len(c)))
                    i = hay.find(c, i + len(c))
                if spans:
                    break
    spans = _merge(spans)
    return Match(spans, spans[0][0] if spans else None)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(set(spans)):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def snippet_around(text: str, m: Match, words: int = SNIPPET_WORDS, before: int = SNIPPET_BEFORE) -> tuple[str, list[list[int]]]:
    """A window of ``words`` words of the line, starting ``before`` words ahead of the first match, with the
    matches' offsets inside it; "…" marks what was cut."""
    bounds = [(mm.start(), mm.end()) for mm in re.finditer(r"\S+", text)]
    if len(bounds) <= words or m.first is None:
        if len(bounds) <= words:
            return text, [[a, b] for a, b in m.spans]
        a0, b0 = 0, bounds[words - 1][1]
    else:
        k = next((i for i, (a, b) in enumerate(bounds) if b > m.first), 0)
        lo = max(0, min(k - before, len(bounds) - words))
        a0, b0 = bounds[lo][0], bounds[min(lo + words, len(bounds)) - 1][1]
    prefix = "…" if a0 > 0 else ""
    suffix = "…" if b0 < len(text) else ""
    body = text[a0:b0]
    shift = len(prefix) - a0
    hl = [[max(a, a0) + shift, min(b, b0) + shift] for a, b in m.spans if b > a0 and a < b0]
    return prefix + body + suffix, hl


def word_time(words_json: str | None, char_offset: int | None) -> float | None:
    """Start of the timed word that holds ``char_offset`` (the last word starting at or before it)."""
    if char_offset is None:
        return None
    timings = unpack_words(words_json)
    best = None
    for off, start, _end in timings:
        if off <= char_offset:
            best = start
        else:
            break
    return best


def seconds_param(t: float) -> str:
    """12.0 -> "12", 7.36 -> "7.4": a short ``?t=`` value for the video page."""
    return f"{t:.1f}".rstrip("0").rstrip(".")


def default_archive_dir(store: Catalogue) -> Path:
    """The archive root beside the catalogue (PostgreSQL: the data folder it was opened for, else CLIPWATCH_DATA)."""
    data_dir = getattr(store, "data_dir", None)
    if data_dir is None:
        data_dir = Settings().data_dir
    return Path(data_dir) / "archive"


def build_hits(store: Catalogue, p: Plan | None, ranked: Sequence[tuple[int, float | None]], archive_dir: Path) -> list[VideoGroup]:
    idx = store.search_index
    if not ranked:
        return []
    rows = idx.segment_rows([i for i, _ in ranked])
    # the page's videos, files and tags in one query each (a round trip per video costs more than the search on a
    # database server)
    vids = list(dict.fromkeys(r["video_id"] for r in rows.values()))
    videos = idx.video_rows(vids)
    media = idx.media_rows([v["media_sha256"] for v in videos.values()])
    tags = idx.tag_rows(list(videos))
    groups: dict[str, VideoGroup] = {}
    media_abs: dict[str, Path | None] = {}
    found: list[tuple[int, float | None, Any, Match, float, float | None]] = []  # (id, score, row, match, start, word time)
    for seg_id, score in ranked:
        r = rows.get(seg_id)
        if r is None:
            continue
        vid = r["video_id"]
        if vid not in groups:
            v = videos.get(vid)
            if v is None:
                continue
            m = media.get(v["media_sha256"]) if v["media_sha256"] else None
            media_abs[vid] = (archive_dir / m["path"]) if m else None
            groups[vid] = VideoGroup(
                video_id=vid, title=v["title"], channel=v["channel"] or v["uploader"], channel_url=v["channel_url"],
                webpage_url=v["webpage_url"], upload_date=v["upload_date"], archived_at=(m["fetched_at"] if m else v["archived_at"]),
                status=v["status"], language=v["language"], duration=v["duration"], sha256=v["media_sha256"],
                media_path=m["path"] if m else None, tags=tag_dicts(tags.get(vid, [])),
            )
        match = locate(r["text"], p)
        seg_start, seg_end = float(r["start"]), float(r["end"])
        wt = word_time(r["words"], match.first)
        start = wt if wt is not None and seg_start - 0.5 <= wt <= seg_end + 0.5 else seg_start
        found.append((seg_id, score, r, match, start, wt))
    # The line in the other language and the nearest keyframe, for the whole page at once (one query each on a
    # database server, where a round trip per hit would cost more than the search).
    paired = idx.paired_lines([
        (seg_id, r["video_id"], "original" if r["kind"] == "translation" else "translation", float(r["start"]), float(r["end"]))
        for seg_id, _, r, _, _, _ in found if r["kind"] not in ("screen", COMMENTS)])
    keyframes = idx.nearest_keyframes([(seg_id, r["video_id"], start) for seg_id, _, r, _, start, _ in found
                                       if r["kind"] != COMMENTS])
    commented = {vid: _comment_meta(store, archive_dir, vid)
                 for vid in dict.fromkeys(r["video_id"] for _, _, r, _, _, _ in found if r["kind"] == COMMENTS)}
    for seg_id, score, r, match, start, wt in found:
        vid = r["video_id"]
        g = groups[vid]
        snippet, hl = snippet_around(r["text"], match)
        if r["kind"] in ("screen", COMMENTS):  # text on screen, a comment: no spoken line or translation pairs with it
            original, translation = r["text"], None
        elif r["kind"] == "translation":
            original, translation = paired.get(seg_id), r["text"]
        else:
            original, translation = r["text"], paired.get(seg_id)
        flags = [f for f in (r["flags"] or "").split(",") if f]
        kf = keyframes.get(seg_id)
        g.hits.append(Hit(
            segment_id=seg_id, video_id=vid, start=start, end=float(r["end"]), text=r["text"],
            kind=r["kind"], language=r["language"], snippet=snippet, highlights=hl, original=original,
            translation=translation, score=None if score is None else round(float(score), 6),
            keyframe=Keyframe(time=kf[0], path=kf[1]) if kf else None,
            link=deep_link(g.webpage_url, start, media_abs[vid]),
            web_path=f"/videos/{vid}?t={seconds_param(start)}",
            segment_start=float(r["start"]), timed_by="word" if wt is not None and start == wt else "segment",
            doubtful=bool(flags), flags=flags,
        ))
        if r["kind"] == COMMENTS:  # no media time: the hit opens the video page's comments, with who wrote it when
            c = commented.get(vid, {}).get(seg_id)
            g.hits[-1] = replace(g.hits[-1], keyframe=None, link=g.webpage_url,
                                 web_path=f"/videos/{vid}#comment-{seg_id}", author=c.author if c else None,
                                 posted_at=c.posted_at if c else None)
    return list(groups.values())


def _comment_meta(store: Catalogue, archive_dir: Path, video_id: str) -> dict[int, Comment]:
    """A video's comments by the id of their searchable line (from its ``comments.json``, by position)."""
    path = next((t["path"] for t in store.transcript_rows(video_id) if t["kind"] == COMMENTS and t["path"]), None)
    if path is None:
        return {}
    comments = read_comments(archive_dir / path)
    return {int(s["id"]): comments[int(s["idx"])] for s in store.segments(video_id, COMMENTS)
            if int(s["idx"]) < len(comments)}


def word_ranked(store: Catalogue, q: SearchQuery, offset: int, n: int
                ) -> tuple[list[tuple[int, float | None]], Plan, str | None, str]:
    """Word search, one page: (ranked [(segment id, score)], the plan run, notice, effective mode).

    Arguments:
        store: the catalogue (its ``search_index`` runs the plan).
        q: a validated query whose mode is word, substring or auto.
        offset, n: the page (n one more than shown tells the caller whether there is a next page).

    Returns:
        The hits' segment ids in order with their scores (None when listed newest first), the plan (for
        highlighting), a notice for the user or None, and the mode the plan ran in.
    """
    p = make_plan(q.text, q.mode)
    common_notice = None
    if p.mode == "word" and p.ranked and q.sort == "relevance" and not q.filters().any and p.units and not p.prefixes:
        docs = [store.search_index.term_docs(alt[0]) if len(unit) == 1 and len(alt) == 1 else 0
                for unit in p.units for alt in unit[:1]]
        if docs and min(docs) > COMMON_DOCS:
            p = replace(p, ranked=False, newest_first=True)
            common_notice = (f"every word of this query is in more than {COMMON_DOCS:,} lines: listed newest first, "
                             "not by relevance; add words, a phrase or filters to rank the hits")
    ranked, p, notice = ranked_ids(store, p, q, offset, n)
    notice = "; ".join(x for x in (notice, common_notice) if x) or None
    return ranked, p, notice, p.mode


def _run(store: Catalogue, p: Plan, q: SearchQuery, offset: int, n: int) -> list[tuple[int, float | None]]:
    """One page: trusted lines first, then (word mode) the doubtful ones."""
    idx = store.search_index
    f = q.filters()
    match = idx.match_of(p)  # the FTS5 expression on SQLite; PostgreSQL reads it into its own (may raise a syntax error)
    got = idx.match_ids(p.table, match, f, q.sort, offset, n, ranked=p.ranked, newest_first=p.newest_first)
    if p.doubt_table is None or len(got) >= n:
        return got
    if got:
        trusted_total = offset + len(got)
    else:
        trusted_total = idx.count_matches(p.table, match, f) if offset else 0
    more = idx.match_ids(p.doubt_table, match, f, q.sort, max(0, offset - trusted_total), n - len(got),
                         ranked=p.ranked, newest_first=p.newest_first)
    return got + more


def ranked_ids(store: Catalogue, p: Plan, q: SearchQuery, offset: int, n: int):
    """Run the plan; on an FTS5 syntax error retry as one plain phrase and say so."""
    idx = store.search_index
    notice = p.notice
    try:
        return _run(store, p, q, offset, n), p, notice
    except idx.query_syntax_errors as exc:
        log.info("query %r rejected by FTS5 (%s); retrying as a phrase", p.match, exc)
        reason = str(exc).removeprefix("fts5: ")
    p = phrase_plan(p, q.text)
    notice = f"could not parse the query ({reason}); searched for it as a plain phrase instead"
    try:
        return _run(store, p, q, offset, n), p, notice
    except idx.query_syntax_errors as exc:  # e.g. a phrase with no indexable characters
        log.info("phrase fallback %r failed too: %s", p.match, exc)
        return [], p, notice + " (it has no searchable words)"
