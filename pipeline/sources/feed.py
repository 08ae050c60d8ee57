"""A channel's own feed: the cheap way to see its newest uploads (one small request instead of yt-dlp's full listing).

YouTube publishes a per-channel Atom feed (``https://www.youtube.com/feeds/videos.xml?channel_id=UC…``) with the
channel's latest uploads (15 of them); other sites publish Atom or RSS 2.0. ``feed_url_for`` finds the feed of a
watched source (the registry's ``feed``, or the YouTube channel id in its URL or registry entry); ``parse_feed``
reads one strictly with defusedxml (a DTD or entity declaration is refused, so hostile XML cannot expand entities or
reach local files) and refuses what no channel feed looks like (malformed XML, more than ``MAX_ENTRIES`` entries):
the caller keeps its previous listing and says why in one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import parse_qs, urljoin, urlsplit
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from pipeline.errors import SourceError

ATOM = "{http://www.w3.org/2005/Atom}"
YT = "{http://www.youtube.com/xml/schemas/2015}"
YOUTUBE_FEED = "https://www.youtube.com/feeds/videos.xml?channel_id={}"
# YouTube's feed carries 15 entries; a "channel feed" with thousands is not one (or is an attack on the poller).
MAX_ENTRIES = 1000
_CHANNEL_ID = re.compile(r"^UC[0-9A-Za-z_-]{22}$")


class FeedError(SourceError):
    """A channel feed that cannot be used this round (malformed, hostile, oversized): the previous listing stands."""


@dataclass(frozen=True)
class FeedEntry:
    """One upload listed by a channel feed."""

    url: str                  # the watch page (what yt-dlp fetches)
    title: str | None = None
    video_id: str | None = None   # the platform's id, when the feed says it (yt:videoId)
    published: str | None = None  # as the feed wrote it


def _youtube_host(host: str) -> bool:
    host = host.lower().split(":", 1)[0]
    return host == "youtube.com" or host.endswith(".youtube.com")


def feed_url_for(source_url: str, channel_ids: Iterable[str] = (), explicit: str | None = None) -> str | None:
    """The feed to poll for a watched source, or None when it has none (then yt-dlp lists it).

    Arguments: source_url — the watched channel/playlist URL; channel_ids — the platform channel ids its registry
    entry lists; explicit — the registry entry's ``feed`` (wins).
    Returns: the feed URL or None.
    """
    if explicit:
        return explicit
    parts = urlsplit(source_url)
    if not _youtube_host(parts.netloc):
        return None
    if parts.path.rstrip("/") == "/feeds/videos.xml":
        return source_url
    m = re.match(r"^/channel/(UC[0-9A-Za-z_-]{22})(?:/|$)", parts.path)
    if m:
        return YOUTUBE_FEED.format(m.group(1))
    cid = parse_qs(parts.query).get("channel_id", [None])[0]
    if cid and _CHANNEL_ID.match(cid):
        return YOUTUBE_FEED.format(cid)
    for cid in channel_ids:  # an /@handle or /user/ URL: the registry's verified id names the channel
        if _CHANNEL_ID.match(cid):
            return YOUTUBE_FEED.format(cid)
    return None


def _text(el: Element | None) -> str | None:
    return el.text.strip() if el is not None and el.text and el.text.strip() else None


def _atom_link(entry: Element) -> str | None:
    links = entry.findall(f"{ATOM}link")
    for link in links:
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return link.get("href")
    return None


def parse_feed(body: bytes, base_url: str = "", max_entries: int = MAX_ENTRIES) -> list[FeedEntry]:
    """The uploads a channel feed (Atom 1.0, YouTube's included, or RSS 2.0) lists, newest first as the feed has them.

    Arguments: body — the feed as received; base_url — the feed's URL (relative links are resolved against it);
    max_entries — refuse a feed listing more.
    Returns: one ``FeedEntry`` per entry with a watch-page URL (http/https only).
    Raises: FeedError (one line: what is wrong) for malformed XML, a DTD/entity declaration, an unknown document,
    or too many entries.
    """
    try:
        root = SafeET.fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise FeedError(f"the feed declares a DTD or entities ({type(exc).__name__}): refused, not expanded") from None
    except (ParseError, ValueError) as exc:
        raise FeedError(f"the feed is not well-formed XML ({exc})") from None
    if root.tag == f"{ATOM}feed":
        items = root.findall(f"{ATOM}entry")
    elif root.tag == "rss":
        items = root.findall("channel/item")
    else:
        raise FeedError(f"not an Atom or RSS feed (root element {root.tag[:80]!r})")
    if len(items) > max_entries:
        raise FeedError(f"the feed lists {len(items):,} entries, more than a channel feed carries ({max_entries:,}): refused")
    out: list[FeedEntry] = []
    for it in items:
        if root.tag == "rss":
            href, title, vid, published = _text(it.find("link")), _text(it.find("title")), None, _text(it.find("pubDate"))
        else:
            vid = _text(it.find(f"{YT}videoId"))
            href = _atom_link(it) or (f"https://www.youtube.com/watch?v={vid}" if vid else None)
            title = _text(it.find(f"{ATOM}title"))
            published = _text(it.find(f"{ATOM}published")) or _text(it.find(f"{ATOM}updated"))
        if not href:
            continue
        url = urljoin(base_url, href)
        if urlsplit(url).scheme not in ("http", "https"):
            continue  # javascript:, file:, data: … are nothing to fetch
        out.append(FeedEntry(url=url, title=title, video_id=vid, published=published))
    return out
