"""The channel network: who republishes whose videos, how fast, and with what money signals.

Built from plain values: ``NetVideo`` (one per archived video: channel,
dates, status, the metadata that can carry monetisation signals) and copy
links (anything with ``original``, ``copy``, ``confidence``). Each copy counts
once, under its *primary* link: the one to the earliest of the videos it was
linked to (a copy of a copy is attributed to the first upload).

Nodes are channels: ``videos`` archived, ``copies`` (its videos that copy
another channel's video), ``copy_share``, ``registry`` (the entry of the state
outlet registry the channel matches, or null), ``status`` (available, removed
- all its archived videos gone - or partly-removed). Edges run from the
channel of the original to the channel of the copy: ``videos`` copied and
``median_delay_days`` between the two upload dates.

Monetisation signals are only what the metadata says (yt-dlp fields such as
``availability``, links in descriptions); each one is labelled with where it
was seen and is listed as a signal, never as proof that a channel earns money.

Renderers: ``to_json`` (the shape the CLI and API print), ``to_graphml``
(networkx; for Gephi, yEd, Cytoscape), ``to_csv`` (the edge list) and
``to_svg`` (a circular drawing for the web page; no script).
"""

from __future__ import annotations

import html
import io
import json
import math
import re
import statistics
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from pipeline import csvsafe
from pipeline.errors import QueryError
from pipeline.tagging.signals.source import load_registry
from pipeline.xmlsafe import xml_text

UNKNOWN_CHANNEL = "(unknown channel)"
SIGNAL_NOTE = "monetisation signals come from metadata only (yt-dlp fields, links in descriptions); a signal is not proof of income"

#: description links that ask for money, by kind (host patterns)
_MONEY_LINKS: tuple[tuple[str, str], ...] = (
    ("donation link", r"(patreon\.com|paypal\.(me|com)|buymeacoffee\.com|ko-fi\.com|boosty\.to|donationalerts\.com|"
                      r"liberapay\.com|opencollective\.com|streamlabs\.com|gofundme\.com|qiwi\.com|yoomoney\.ru)"),
    ("channel membership", r"youtube\.com/(channel/[\w-]+|@[\w.-]+|c/[\w.-]+)/join"),
    ("merchandise link", r"(teespring\.com|spreadshirt\.\w+|redbubble\.com|merch\.|shop\.)"),
    ("affiliate link", r"(amzn\.to|amazon\.[a-z.]+/[^\s]*tag=|aliexpress\.[a-z.]+/[^\s]*aff)"),
)
_CRYPTO = re.compile(r"\b(bc1[a-z0-9]{20,60}|[13][a-km-zA-HJ-NP-Z1-9]{25,34}|0x[a-fA-F0-9]{40})\b")
_URL = re.compile(r"https?://[^\s<>\"']+|\b[\w.-]+\.(com|me|to|ru|org|net|io)/[^\s<>\"']*", re.I)


@dataclass
class NetVideo:
    video_id: str
    channel: str | None
    upload_date: str | None = None  # YYYY-MM-DD
    archived_at: str | None = None
    status: str = "available"  # available | removed | unknown
    channel_url: str | None = None
    webpage_url: str | None = None
    uploader: str | None = None
    description: str | None = None
    availability: str | None = None  # yt-dlp's field: public | unlisted | subscriber_only | premium_only | needs_auth
    title: str | None = None
    channel_id: str | None = None  # the platform's channel id (what the registry matches, with URLs)


@dataclass
class Signal:
    kind: str  # donation link | channel membership | merchandise link | affiliate link | crypto address | members-only video
    evidence: str  # the link or field value, verbatim
    video_id: str
    where: str  # description | yt-dlp availability


@dataclass
class Node:
    channel: str
    videos: int
    copies: int
    copy_share: float
    registry: str | None
    status: str
    monetisation_signals: list[Signal] = field(default_factory=list)


@dataclass
class Edge:
    from_: str
    to: str
    videos: int
    median_delay_days: float | None
    video_pairs: list[tuple[str, str]] = field(default_factory=list)  # (original, copy)


@dataclass
class Network:
    nodes: list[Node]
    edges: list[Edge]
    filters: dict[str, Any] = field(default_factory=dict)
    uncertain: list[tuple[str, str]] = field(default_factory=list)  # linked, direction uncertain: no arrow


def _order(v: NetVideo | None, vid: str) -> tuple:
    if v is None:
        return ("9999-99-99", "9999", vid)
    return (v.archived_at or "9999", v.upload_date or "9999-99-99", vid)  # observed first, claimed second


def primary_links(links: Iterable[Any], order: Mapping[Any, Any] | Callable[[Any], Any]) -> list[Any]:
    """One link per copy: to its earliest linked original (``order``: video id -> sort key), ties by confidence."""
    key = order if callable(order) else (lambda vid: order.get(vid, ("9999",)))
    best: dict[Any, Any] = {}
    for link in links:
        cur = best.get(link.copy)
        if cur is None or (key(link.original), -link.confidence) < (key(cur.original), -cur.confidence):
            best[link.copy] = link
    # a copy is never its own original's original: drop cycles where dates tie oddly
    return [l for l in best.values() if l.original != l.copy]


def monetisation_signals(v: NetVideo) -> list[Signal]:
    """Signals in one video's metadata (never a guess from anything else)."""
    out: list[Signal] = []
    text = v.description or ""
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(".,);")
        for kind, pat in _MONEY_LINKS:
            if re.search(pat, url, re.I):
                out.append(Signal(kind, url, v.video_id, "description"))
                break
    for m in _CRYPTO.finditer(text):
        out.append(Signal("crypto address", m.group(0), v.video_id, "description"))
    if v.availability in ("subscriber_only", "premium_only"):
        out.append(Signal("members-only video", v.availability, v.video_id, "yt-dlp availability"))
    return out


def _days(a: str | None, b: str | None) -> float | None:
    try:
        return float((date.fromisoformat(b[:10]) - date.fromisoformat(a[:10])).days)  # type: ignore[index]
    except (TypeError, ValueError):
        return None


def build_network(videos: Sequence[NetVideo], links: Iterable[Any], *, registry: Any = None,
                  channels: Sequence[str] = (), since: str | None = None) -> Network:
    """The channel network from archived videos and copy links.

    ``channels``: keep only edges touching these channels (and their nodes);
    ``since``: only copies uploaded (else archived) on or after this date count
    as edges. ``registry``: anything with ``match(channel=, channel_url=,
    uploader=, webpage_url=)`` returning an object with ``.channel.name`` or None.
    """
    by_id = {v.video_id: v for v in videos}
    links = list(links)
    # A link whose direction is uncertain (the platforms' claimed dates contradict the order the archive observed)
    # draws no arrow and makes no channel a copier: it is listed as a pair only.
    uncertain = [(l.original, l.copy) for l in links if getattr(l, "direction", "observed") == "uncertain"]
    links = [l for l in links if getattr(l, "direction", "observed") != "uncertain"]
    prim = primary_links(links, lambda vid: _order(by_id.get(vid), str(vid)))

    def chan(vid: str) -> str:
        v = by_id.get(vid)
        return (v.channel or UNKNOWN_CHANNEL) if v else UNKNOWN_CHANNEL

    def copy_date(vid: str) -> str:
        v = by_id.get(vid)
        return (v.upload_date or (v.archived_at or "")[:10]) if v else ""

    edges: dict[tuple[str, str], list[tuple[str, str, float | None]]] = {}
    copies_of_others: dict[str, set[str]] = {}
    for l in prim:
        a, b = chan(l.original), chan(l.copy)
        if a == b:
            continue  # a channel re-posting its own video is not republishing
        copies_of_others.setdefault(b, set()).add(l.copy)
        if since and copy_date(l.copy) and copy_date(l.copy) < since:
            continue
        ov, cv = by_id.get(l.original), by_id.get(l.copy)
        edges.setdefault((a, b), []).append((l.original, l.copy, _days(ov.upload_date if ov else None, cv.upload_date if cv else None)))

    wanted = {c.casefold() for c in channels}
    edge_list = []
    for (a, b), pairs in sorted(edges.items()):
        if wanted and a.casefold() not in wanted and b.casefold() not in wanted:
            continue
        delays = [d for _, _, d in pairs if d is not None]
        edge_list.append(Edge(a, b, len(pairs), round(statistics.median(delays), 1) if delays else None,
                              [(o, c) for o, c, _ in pairs]))

    per_channel: dict[str, list[NetVideo]] = {}
    for v in videos:
        per_channel.setdefault(v.channel or UNKNOWN_CHANNEL, []).append(v)
    keep = set(per_channel)
    if wanted:
        keep = {c for c in per_channel if c.casefold() in wanted} | {e.from_ for e in edge_list} | {e.to for e in edge_list}
    nodes = []
    for c in sorted(keep):
        vs = per_channel.get(c, [])
        n = len(vs)
        ncopies = len(copies_of_others.get(c, ()))
        removed = sum(1 for v in vs if v.status == "removed")
        status = "removed" if n and removed == n else ("partly-removed" if removed else "available")
        reg = None
        if registry is not None:
            for v in vs:
                # by platform channel id or URL only: any channel may call itself "KCTV"
                m = _registry_match(registry, v)
                if m is not None:
                    reg = m.channel.name
                    break
        signals = [s for v in vs for s in monetisation_signals(v)]
        nodes.append(Node(c, n, ncopies, round(ncopies / n, 4) if n else 0.0, reg, status, signals))
    return Network(nodes, edge_list, {"channels": list(channels), "since": since}, uncertain)


def _registry_match(registry: Any, v: NetVideo) -> Any:
    try:
        return registry.match(channel=v.channel, channel_url=v.channel_url, uploader=v.uploader,
                              webpage_url=v.webpage_url, channel_id=v.channel_id, names=False)
    except TypeError:  # a registry-like object without id/name options (older callers, tests)
        return registry.match(channel=v.channel, channel_url=v.channel_url, uploader=v.uploader, webpage_url=v.webpage_url)


# -- renderers ---------------------------------------------------------------
def to_json(net: Network) -> dict[str, Any]:
    """``{"nodes": [{"channel", "videos", "copies", "copy_share", "registry", "status", ...}], "edges": [{"from", "to", ...}]}``."""
    nodes = []
    for n in net.nodes:
        d = {"channel": n.channel, "videos": n.videos, "copies": n.copies, "copy_share": n.copy_share,
             "registry": n.registry, "status": n.status,
             "monetisation_signals": [asdict(s) for s in n.monetisation_signals]}
        nodes.append(d)
    edges = [{"from": e.from_, "to": e.to, "videos": e.videos, "median_delay_days": e.median_delay_days,
              "pairs": [{"original": o, "copy": c} for o, c in e.video_pairs]} for e in net.edges]
    return {"nodes": nodes, "edges": edges, "filters": net.filters, "monetisation_note": SIGNAL_NOTE,
            "uncertain_pairs": [{"a": a, "b": b} for a, b in net.uncertain]}


def to_graphml(net: Network) -> str:
    import networkx as nx  # heavy (~1 s): only for the GraphML export

    g = nx.DiGraph()
    for n in net.nodes:
        g.add_node(xml_text(n.channel), videos=n.videos, copies=n.copies, copy_share=n.copy_share, registry=xml_text(n.registry or ""),
                   status=xml_text(n.status), monetisation_signals=len(n.monetisation_signals),
                   monetisation_kinds=xml_text(", ".join(sorted({s.kind for s in n.monetisation_signals}))))
    for e in net.edges:
        g.add_edge(xml_text(e.from_), xml_text(e.to), videos=e.videos,
                   median_delay_days=e.median_delay_days if e.median_delay_days is not None else -1.0)
    buf = io.BytesIO()
    nx.write_graphml(g, buf, encoding="utf-8")
    return buf.getvalue().decode("utf-8")


def to_csv(net: Network) -> str:
    """The edge list: from,to,videos,median_delay_days (empty when no dates)."""
    buf = io.StringIO()
    w = csvsafe.writer(buf, lineterminator="\n")  # channel names are the uploaders': formulas neutralised
    w.writerow(["from", "to", "videos", "median_delay_days"])
    for e in net.edges:
        w.writerow([e.from_, e.to, e.videos, "" if e.median_delay_days is None else e.median_delay_days])
    return buf.getvalue()


def to_svg(net: Network, size: int = 640, link: Callable[[str], str] | None = None) -> str:
    """A circular drawing: node area ~ videos, red ring = in the registry, grey = removed; arrow width ~ videos copied."""
    def e(text: str, quote: bool = True) -> str:  # escaped, and nothing an XML parser refuses
        return html.escape(xml_text(text), quote)
    n = len(net.nodes)
    cx = cy = size / 2
    radius = size / 2 - 110 if n > 1 else 0
    pos: dict[str, tuple[float, float]] = {}
    for i, node in enumerate(net.nodes):
        ang = -math.pi / 2 + 2 * math.pi * i / max(n, 1)
        pos[node.channel] = (cx + radius * math.cos(ang), cy + radius * math.sin(ang))
    max_v = max([nd.videos for nd in net.nodes] + [1])
    rad = {nd.channel: 8 + 22 * math.sqrt(nd.videos / max_v) for nd in net.nodes}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" width="{size}" height="{size}" '
           f'role="img" aria-label="channel network" class="network">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>']
    max_e = max([ed.videos for ed in net.edges] + [1])
    for ed in net.edges:
        if ed.from_ not in pos or ed.to not in pos:
            continue
        (x1, y1), (x2, y2) = pos[ed.from_], pos[ed.to]
        dx, dy = x2 - x1, y2 - y1
        dist = math.hypot(dx, dy) or 1.0
        ux, uy = dx / dist, dy / dist
        sx, sy = x1 + ux * rad[ed.from_], y1 + uy * rad[ed.from_]
        ex, ey = x2 - ux * (rad[ed.to] + 2), y2 - uy * (rad[ed.to] + 2)
        width = 1.5 + 4 * ed.videos / max_e
        delay = "" if ed.median_delay_days is None else f", median delay {ed.median_delay_days:g} days"
        out.append(f'<g class="edge"><title>{e(ed.from_)} → {e(ed.to)}: {ed.videos} videos copied{e(delay)}</title>'
                   f'<line x1="{sx:.1f}" y1="{sy:.1f}" x2="{ex:.1f}" y2="{ey:.1f}" stroke="#555" stroke-width="{width:.1f}" '
                   f'marker-end="url(#arrow)"/>'
                   f'<text x="{(sx + ex) / 2:.1f}" y="{(sy + ey) / 2 - 4:.1f}" font-size="11" text-anchor="middle" '
                   f'fill="#333">{ed.videos}</text></g>')
    for nd in net.nodes:
        x, y = pos[nd.channel]
        fill = "#bbb" if nd.status == "removed" else ("#f4c7c3" if nd.registry else "#cfe2f3")
        stroke = "#c0392b" if nd.registry else "#2c5d8a"
        label = e(nd.channel)
        money = f", {len(nd.monetisation_signals)} monetisation signals in metadata" if nd.monetisation_signals else ""
        tip = (f"{nd.channel}: {nd.videos} videos, {nd.copies} copies of others ({nd.copy_share:.0%})"
               f"{', registry: ' + nd.registry if nd.registry else ''}, {nd.status}{money}")
        circle = (f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{rad[nd.channel]:.1f}" fill="{fill}" stroke="{stroke}" '
                  f'stroke-width="{3 if nd.registry else 1.5}"/>')
        text = (f'<text x="{x:.1f}" y="{y + rad[nd.channel] + 14:.1f}" font-size="12" text-anchor="middle">{label}</text>'
                f'<text x="{x:.1f}" y="{y + 4:.1f}" font-size="11" text-anchor="middle">{nd.videos}</text>')
        body = f"<title>{e(tip)}</title>{circle}{text}"
        if link:
            body = f'<a href="{e(link(nd.channel), quote=True)}">{body}</a>'
        out.append(f'<g class="node" data-channel="{e(nd.channel, quote=True)}">{body}</g>')
    if not net.nodes:
        out.append(f'<text x="{cx}" y="{cy}" text-anchor="middle" font-size="14">no channels to show</text>')
    out.append("</svg>")
    return "".join(out)


# -- from the catalogue ------------------------------------------------------
def normalise_since(value: str | None) -> str | None:
    """YYYY, YYYY-MM or YYYY-MM-DD -> YYYY-MM-DD (QueryError otherwise)."""

    if not value:
        return None
    m = re.fullmatch(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", value.strip())
    if not m:
        raise QueryError(f"--since {value!r}: give a date as YYYY, YYYY-MM or YYYY-MM-DD")
    y, mo, d = m.group(1), m.group(2) or "01", m.group(3) or "01"
    try:
        return date(int(y), int(mo), int(d)).isoformat()
    except ValueError:
        raise QueryError(f"--since {value!r} is not a real date") from None


def network_from_store(store: Any, archive_root: Any = None, *, channels: Sequence[str] = (),
                       since: str | None = None, registry: Any = None) -> Network:
    """Read videos and copy links from the catalogue and build the network.

    yt-dlp's ``availability`` is read from each video's latest info.json when
    the archive folder is given. ``registry`` defaults to the channel registry
    (``CLIPWATCH_CHANNELS`` or the packaged one).
    """

    since = normalise_since(since)
    if registry is None:

        registry = load_registry()
    videos = []
    for r in store.network_videos():
        availability = None
        if archive_root is not None and r["info_json_path"]:
            p = Path(archive_root) / r["info_json_path"]
            try:
                availability = json.loads(p.read_text(encoding="utf-8")).get("availability")
            except (OSError, ValueError):
                availability = None
        videos.append(NetVideo(r["id"], r["channel"] or r["uploader"], r["upload_date"], r["archived_at"], r["status"],
                               r["channel_url"], r["webpage_url"], r["uploader"], r["description"], availability, r["title"],
                               r["channel_id"] if "channel_id" in r.keys() else None))
    links = [_LinkRow(r["original_id"], r["copy_id"], float(r["confidence"]), _direction(r["detail"]))
             for r in store.all_links()]
    return build_network(videos, links, registry=registry, channels=channels, since=since)


def _direction(detail: Any) -> str:
    import json

    try:
        d = json.loads(detail or "{}")
    except (TypeError, ValueError):
        return "observed"
    return d.get("direction", "observed") if isinstance(d, dict) else "observed"


@dataclass
class _LinkRow:
    original: str
    copy: str
    confidence: float
    direction: str = "observed"
