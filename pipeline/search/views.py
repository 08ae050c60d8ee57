"""What an analyst looks at rather than reads: mentions over time, a concordance, and the browse lists.

* ``trends(store, TrendQuery)`` — how many lines say QUERY per week, month or year, per channel (same query
  language and normalisation as the search; doubtful lines count too). ``plot_trends`` draws it with
  matplotlib (PNG or SVG); the web search page shows the same chart as server-rendered SVG.
* ``concordance(hits)`` — keyword in context: one line per hit, the matches aligned in one column.
* ``channel_list``, ``removed_list``, ``recent_list`` — the browse pages (channels with their registry entry,
  removed videos with the platform's reason, recently archived videos).
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Iterable, cast

from pipeline import csvsafe
from pipeline.errors import ClipwatchError, QueryError
from pipeline.search.citation import Citation
from pipeline.search.query import SearchQuery, phrase_plan, validate
from pipeline.search.query import plan as make_plan
from pipeline.storage.base import Catalogue
from pipeline.storage.files import atomic_write
from pipeline.tagging.signals.source import load_registry
from pipeline.xmlsafe import xml_text

BY = ("week", "month", "year")
TREND_FORMATS = ("table", "csv", "json")
MAX_SERIES = 8          # channels drawn as their own line; the rest are summed as "other channels"


@dataclass
class TrendQuery:
    text: str
    by: str = "month"
    channel: str | None = None
    category: str | None = None
    mode: str = "auto"


@dataclass
class TrendRow:
    period: str               # YYYY-MM-DD (the Monday) for weeks, YYYY-MM for months, YYYY for years
    channel: str
    hits: int                 # lines that say it
    videos: int               # videos they are in


@dataclass
class Trends:
    query: TrendQuery
    mode: str                 # word | substring | bigram
    rows: list[TrendRow]      # (period, channel) pairs with mentions, by channel then period
    periods: list[str]        # every period from the first mention to the last (the chart's axis, gaps included)
    channels: list[str]       # by total hits, most first
    total_hits: int
    undated_hits: int         # mentions in videos without an upload date (not on the time axis)
    notice: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"query": asdict(self.query), "mode": self.mode, "periods": self.periods, "channels": self.channels,
                "total_hits": self.total_hits, "undated_hits": self.undated_hits, "notice": self.notice,
                "rows": [asdict(r) for r in self.rows]}

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csvsafe.writer(buf, lineterminator="\r\n")
        w.writerow(["period", "channel", "hits", "videos"])
        for r in self.rows:
            w.writerow([r.period, r.channel, r.hits, r.videos])
        return buf.getvalue()

    def series(self, max_series: int = MAX_SERIES) -> dict[str, list[int]]:
        """Hits per period for the top channels, the rest summed."""
        top = self.channels[:max_series]
        idx = {p: i for i, p in enumerate(self.periods)}
        out = {c: [0] * len(self.periods) for c in top}
        rest = [0] * len(self.periods)
        for r in self.rows:
            (out[r.channel] if r.channel in out else rest)[idx[r.period]] += r.hits
        if any(rest):
            out["other channels"] = rest
        return out


def _next_period(p: str, by: str) -> str:
    if by == "year":
        return str(int(p) + 1)
    if by == "month":
        y, m = int(p[:4]), int(p[5:7])
        return f"{y + (m == 12)}-{(m % 12) + 1:02d}"
    return (date.fromisoformat(p) + timedelta(days=7)).isoformat()


def _fill(periods: Iterable[str], by: str) -> list[str]:
    ps = sorted(set(periods))
    if not ps:
        return []
    out: list[str] = []
    p = ps[0]
    while p <= ps[-1] and len(out) < 5000:
        out.append(p)
        p = _next_period(p, by)
    return out


def trends(store: Catalogue, tq: TrendQuery) -> Trends:
    if tq.by not in BY:
        raise QueryError(f"unknown period {tq.by!r}; choose one of: {', '.join(BY)}")
    q = validate(SearchQuery(tq.text, channel=tq.channel, category=tq.category, mode=tq.mode if tq.mode in ("auto", "word", "substring") else "auto"))
    if not re.search(r"\w", q.text):
        return Trends(tq, "word", [], [], [], 0, 0, notice="the query has no searchable words")
    p = make_plan(q.text, q.mode)
    idx = store.search_index  # SQLite's or PostgreSQL's: the same methods

    def tables_of(p):
        match = idx.match_of(p)
        return [(p.table, match)] + ([(p.doubt_table, match)] if p.doubt_table else [])

    notice = p.notice
    try:
        raw = idx.mention_counts(tables_of(p), tq.by, q.filters())
    except idx.query_syntax_errors as exc:  # an FTS5 syntax error: count the whole query as one phrase, as the search does

        p = phrase_plan(p, q.text)
        notice = f"could not parse the query ({str(exc).removeprefix('fts5: ')}); counted it as a plain phrase instead"
        try:
            raw = idx.mention_counts(tables_of(p), tq.by, q.filters())
        except idx.query_syntax_errors:
            raw = []
    dated = [r for r in raw if r["period"]]
    undated = sum(r["hits"] for r in raw if not r["period"])
    periods = _fill((r["period"] for r in dated), tq.by)
    totals: dict[str, int] = {}
    for r in dated:
        totals[r["channel"]] = totals.get(r["channel"], 0) + r["hits"]
    channels = sorted(totals, key=lambda c: (-totals[c], c))
    order = {c: i for i, c in enumerate(channels)}
    rows = [TrendRow(r["period"], r["channel"] or "(unknown channel)", r["hits"], r["videos"])
            for r in sorted(dated, key=lambda r: (order[r["channel"]], r["period"]))]
    channels = [c or "(unknown channel)" for c in channels]
    if undated and not notice:
        notice = f"{undated} mention(s) in videos without an upload date are not on the time axis"
    return Trends(tq, p.mode, rows, periods, channels, sum(r.hits for r in rows) + undated, undated, notice)


def render_table(t: Trends) -> str:
    """Plain text: one row per period, one column per top channel, and the total."""
    series = t.series()
    names = list(series)
    if not t.periods:
        return f"no mentions of {t.query.text!r}" + (f" ({t.undated_hits} in undated videos)" if t.undated_hits else "") + "\n"
    head = ["period", *names, "total"]
    lines = [head]
    for i, p in enumerate(t.periods):
        vals = [series[n][i] for n in names]
        lines.append([p, *map(str, vals), str(sum(vals))])
    widths = [max(len(str(row[k])) for row in lines) for k in range(len(head))]
    return "\n".join("  ".join(str(c).rjust(w) if k else str(c).ljust(w) for k, (c, w) in enumerate(zip(row, widths)))
                     for row in lines) + "\n"


def plot_trends(t: Trends, fmt: str = "svg", *, width: float = 8.0, height: float = 3.2) -> bytes:
    """The chart as PNG or SVG bytes; with no mentions, an empty chart that says so."""
    if fmt not in ("png", "svg"):
        raise QueryError(f"chart format must be png or svg, not {fmt!r}")
    import matplotlib  # heavy (~3 s): only when a chart is drawn

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # heavy (~3 s): only when a chart is drawn
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(width, height), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    title = xml_text(f"“{t.query.text}” — mentions per {t.query.by}")
    if t.query.channel:
        title += f" · {xml_text(t.query.channel)}"
    ax.set_title(title, fontsize=10)
    if not t.periods:
        ax.text(0.5, 0.5, "no mentions" + (f" ({t.undated_hits} in undated videos)" if t.undated_hits else ""),
                ha="center", va="center", transform=ax.transAxes, fontsize=11, color="#666")
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        xs = list(range(len(t.periods)))
        for name, ys in t.series().items():
            if len(xs) == 1:
                ax.bar([0], ys, label=xml_text(name), width=0.4)
            else:
                ax.plot(xs, ys, marker="o" if len(xs) <= 40 else None, markersize=3, linewidth=1.4, label=xml_text(name))
        step = max(1, len(xs) // 10)
        ax.set_xticks(xs[::step])
        ax.set_xticklabels(t.periods[::step], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("lines", fontsize=9)
        ax.set_ylim(bottom=0)
        # a linear axis's default major locator is an AutoLocator, a MaxNLocator (which takes integer=)
        cast(MaxNLocator, ax.yaxis.get_major_locator()).set_params(integer=True)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    return buf.getvalue()


def save_plot(t: Trends, path: Path) -> Path:
    """Write the chart to ``path`` (format from its suffix), atomically; a user mistake is a ClipwatchError."""

    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise QueryError(f"--plot needs a .png or .svg file name, not {path.name!r}")
    if not path.parent.is_dir():
        raise ClipwatchError(f"cannot write the chart to {path}: folder {path.parent} does not exist")
    data = plot_trends(t, fmt)
    try:
        atomic_write(path, lambda f: f.write(data))
    except OSError as exc:
        raise ClipwatchError(f"cannot write the chart to {path}: {exc.strerror or exc}") from None
    return path


# -- concordance -------------------------------------------------------------------------

def concordance(pairs: Iterable[tuple[Any, Any]], width: int = 40) -> str:
    """Keyword in context: ``video_id  hh:mm:ss  …left context [match] right context…``, matches aligned."""

    rows = []
    for g, h in pairs:
        text = h.snippet
        if h.highlights:
            a, b = h.highlights[0]
            end = b
            for a2, b2 in h.highlights[1:]:  # adjacent marks (a phrase) belong to the keyword
                if a2 - end <= 1:
                    end = b2
                else:
                    break
            left, kw, right = text[:a], text[a:end], text[end:]
        else:
            left, kw, right = "", "", text
        left = " ".join(left.split())
        right = " ".join(right.split())
        left = ("…" + left[-(width - 1):]) if len(left) > width else left
        right = (right[:width - 1] + "…") if len(right) > width else right
        ts = Citation(video_id=g.video_id, title="", channel=None, url="", upload_date=None, archived_at=None,
                      sha256=None, seconds=h.start).timestamp
        mark = "?" if getattr(h, "doubtful", False) else " "   # a doubtful (flagged) line
        rows.append((g.video_id, f"{ts}{mark}", left, kw, right))
    idw = max((len(r[0]) for r in rows), default=0)
    lines = [f"{vid:<{idw}}  {ts}  {left:>{width}} [{kw}] {right}".rstrip() for vid, ts, left, kw, right in rows]
    return "\n".join(lines) + ("\n" if lines else "")


# -- browse -------------------------------------------------------------------------------

def channel_list(store: Catalogue) -> list[dict[str, Any]]:
    try:
        registry = load_registry()
    except ClipwatchError:
        registry = None
    out = []
    for r in store.search_index.channels():
        entry = None
        if registry is not None:
            m = registry.match(channel=r["channel"], channel_url=r["channel_url"])
            if m is not None:
                entry = {"name": m.channel.name, "kind": m.channel.kind, "country": m.channel.country,
                         "citation": m.channel.citation, "matched_on": m.matched_on}
        out.append({"channel": r["channel"], "channel_id": r["channel_id"], "channel_url": r["channel_url"],
                    "videos": r["videos"], "first_upload": r["first_upload"], "last_upload": r["last_upload"],
                    "removed": r["removed"] or 0, "last_archived": r["last_archived"], "registry": entry})
    return out


def removed_list(store: Catalogue) -> list[dict[str, Any]]:
    return [dict(r) for r in store.search_index.removed_videos()]


def recent_list(store: Catalogue, limit: int = 100) -> list[dict[str, Any]]:
    if not 1 <= int(limit) <= 1000:
        raise QueryError("limit must be between 1 and 1000")
    return [dict(r) for r in store.search_index.recent_videos(int(limit))]


def to_json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n"
