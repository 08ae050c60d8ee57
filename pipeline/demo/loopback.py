"""A small HTTP server on 127.0.0.1 that publishes media the way a video site does.

`clipwatch demo` uses it to publish the bundled sample clips (an RSS "channel"
whose items link to watch pages carrying schema.org VideoObject metadata), so
the demo exercises yt-dlp for real without the internet. Tests use it for
error cases too: routes can be changed while it runs (a page that starts
answering 404, a truncated body, a refused connection after stop()).
"""

from __future__ import annotations

import email.utils
import hashlib
import html
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    # Never send bytes past this offset, whatever Content-Length or Range say (a broken upstream).
    truncate_to: int | None = None
    last_modified: float | None = None
    headers: dict[str, str] | None = None
    # Send the body at most this many bytes a second (a slow site: a download that takes a while).
    rate: int | None = None

    @classmethod
    def file(cls, path: Path, content_type: str = "video/mp4", **kw) -> "Route":
        return cls(body=Path(path).read_bytes(), content_type=content_type, last_modified=Path(path).stat().st_mtime, **kw)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # Clients that probe a file and hang up (yt-dlp does) are normal here.
        pass


class LoopbackServer:
    def __init__(self, routes: dict[str, Route] | None = None, port: int = 0):
        self.routes: dict[str, Route] = dict(routes or {})
        self.requests: list[str] = []
        # When set, EVERY path answers this (the front page too): a site-wide outage, a CDN that answers 404 for
        # everything, a bot check in front of the whole site.
        self.everywhere: Route | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test and demo output clean
                pass

            def _serve(self, head: bool) -> None:
                path = self.path.split("?", 1)[0]
                server.requests.append(f"{self.command} {path}")
                route = server.everywhere or server.routes.get(path)
                if route is None:
                    route = Route(body=b"<h1>404 Not Found</h1>", status=404)
                body = route.body
                start, end, status = 0, len(body) - 1, route.status
                rng = self.headers.get("Range")
                if rng and status == 200 and rng.startswith("bytes=") and body:
                    first, _, last = rng[6:].partition("-")
                    start = int(first) if first else max(0, len(body) - int(last))
                    end = int(last) if first and last else len(body) - 1
                    status = 206
                self.send_response(status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(end - start + 1 if body else 0))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("ETag", '"' + hashlib.sha1(body).hexdigest()[:16] + '"')
                if route.last_modified:
                    self.send_header("Last-Modified", email.utils.formatdate(route.last_modified, usegmt=True))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(body)}")
                for k, v in (route.headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if head:
                    return
                chunk = body[start:end + 1]
                if route.truncate_to is not None:
                    chunk = body[start:max(start, min(end + 1, route.truncate_to))]
                    self.close_connection = True
                try:
                    if route.rate:
                        step = max(1, route.rate // 10)
                        for i in range(0, len(chunk), step):
                            self.wfile.write(chunk[i:i + step])
                            self.wfile.flush()
                            time.sleep(step / route.rate)
                    else:
                        self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:
                self._serve(head=False)

            def do_HEAD(self) -> None:
                self._serve(head=True)

        self.httpd = _QuietServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="loopback-http", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> "LoopbackServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def watch_page(title: str, description: str, media_url: str, upload_date: str | None = None,
               channel: str | None = None, keywords: str | None = None, thumbnail_url: str | None = None) -> bytes:
    """An HTML watch page with schema.org VideoObject JSON-LD, as many video sites publish."""
    ld: dict[str, Any] = {"@context": "https://schema.org", "@type": "VideoObject", "name": title, "description": description,
          "contentUrl": media_url}
    if upload_date:
        ld["uploadDate"] = upload_date
    if channel:
        ld["author"] = {"@type": "Organization", "name": channel}
    if keywords:
        ld["keywords"] = keywords
    if thumbnail_url:
        ld["thumbnailUrl"] = thumbnail_url
    e = html.escape
    # "</" inside JSON-LD would end the script element early.
    ld_text = json.dumps(ld, ensure_ascii=False).replace("</", "<\\/")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
        f"<meta property='og:title' content='{e(title, quote=True)}'>"
        f"<meta property='og:description' content='{e(description, quote=True)}'>"
        f"<script type='application/ld+json'>{ld_text}</script></head>"
        # The player is left to script, as on most video sites; the JSON-LD carries the media URL.
        f"<body><h1>{e(title)}</h1><div class='player' data-src='{e(media_url, quote=True)}'></div><p>{e(description)}</p></body></html>"
    ).encode("utf-8")


def front_page(site: str, links: list[tuple[str, str]] | None = None) -> bytes:
    """A site's own front page: its name and links to watch pages."""
    e = html.escape
    items = "".join(f"<li><a href='{e(href, quote=True)}'>{e(text)}</a></li>" for text, href in links or [])
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(site)}</title></head>"
            f"<body><header><h1>{e(site)}</h1></header><main><ul>{items}</ul></main></body></html>").encode("utf-8")


def removal_page(site: str, text: str, lang: str = "en", extra: str = "") -> bytes:
    """A site's own page saying a video is gone, in the site's words (any status: 200, 404, 410)."""
    e = html.escape
    return (f"<!doctype html><html lang='{e(lang, quote=True)}'><head><meta charset='utf-8'><title>{e(site)}</title>"
            f"<script>window.site={{}};</script></head><body><header><a href='/'>{e(site)}</a></header>"
            f"<main><div class='notice'><p>{e(text)}</p>{extra}</div></main><footer>© {e(site)}</footer></body></html>"
            ).encode("utf-8")


def bot_check_page() -> bytes:
    """A bot-check interstitial as CDNs serve it (with any status), not the site's own page."""
    return (b"<!doctype html><html><head><title>Just a moment...</title></head><body>"
            b"<div id='challenge'><h1>Checking your browser before accessing the site.</h1>"
            b"<p>Please verify you are a human.</p><div class='g-recaptcha' data-sitekey='x'></div>"
            b"<script src='https://www.google.com/recaptcha/api.js'></script></div></body></html>")


def cdn_error_page(status: int = 404) -> bytes:
    """A CDN's own error page (CloudFront's wording)."""
    return (f"<!DOCTYPE HTML PUBLIC '-//W3C//DTD HTML 4.01 Transitional//EN'><html><head><title>ERROR: The request "
            f"could not be satisfied</title></head><body><h1>{status} ERROR</h1><h2>The request could not be "
            f"satisfied.</h2><hr noshade size='1px'>Generated by cloudfront (CloudFront)</body></html>").encode("utf-8")


def rss_feed(title: str, items: list[dict[str, str]]) -> bytes:
    """An RSS 2.0 feed whose items link to watch pages: yt-dlp lists it as a playlist."""
    e = html.escape
    parts = [f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>{e(title)}</title>"
             f"<link>http://127.0.0.1/</link><description>{e(title)}</description>"]
    for it in items:
        parts.append(f"<item><title>{e(it['title'])}</title><link>{e(it['link'])}</link>"
                     f"<guid>{e(it['guid'])}</guid>"
                     + (f"<pubDate>{e(it['pubDate'])}</pubDate>" if it.get("pubDate") else "") + "</item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


def atom_feed(title: str, items: list[dict[str, str]], self_url: str = "http://127.0.0.1/feeds/videos.xml") -> bytes:
    """A channel's Atom 1.0 feed as YouTube publishes one (``yt:videoId``, a ``link rel=alternate`` to the watch page):
    what the monitor polls cheaply between full listings (``pipeline.sources.feed``)."""
    e = html.escape
    parts = ["<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom' "
             "xmlns:yt='http://www.youtube.com/xml/schemas/2015'>"
             f"<id>{e(self_url)}</id><title>{e(title)}</title><link rel='self' href='{e(self_url, quote=True)}'/>"
             "<updated>2030-01-01T00:00:00+00:00</updated>"]
    for it in items:
        parts.append(f"<entry><id>yt:video:{e(it['guid'])}</id><yt:videoId>{e(it['guid'])}</yt:videoId>"
                     f"<title>{e(it['title'])}</title><link rel='alternate' href='{e(it['link'], quote=True)}'/>"
                     f"<published>{e(it.get('published') or '2030-01-01T00:00:00+00:00')}</published></entry>")
    parts.append("</feed>")
    return "".join(parts).encode("utf-8")


def publish_feed(server: LoopbackServer, clips: list[dict], channel: str) -> str:
    """Publish clips (dicts of name, path, title and optionally description, upload_date, keywords) as watch pages
    and media files on the server; returns the URL of their RSS 'channel'."""
    items = []
    for clip in clips:
        name = clip["name"]
        media_path = f"/media/{name}.mp4"
        server.routes[media_path] = Route.file(Path(clip["path"]))
        server.routes[f"/watch/{name}.html"] = Route(body=watch_page(
            clip["title"], clip.get("description", ""), server.url(media_path), clip.get("upload_date"), channel,
            clip.get("keywords")))
        items.append({"title": clip["title"], "link": server.url(f"/watch/{name}.html"), "guid": name})
    server.routes["/feed.xml"] = Route(body=rss_feed(channel, items), content_type="application/rss+xml")
    # The same channel as an Atom feed, as YouTube serves one per channel (the monitor's cheap poll); the demo ignores it.
    server.routes["/feeds/videos.xml"] = Route(body=atom_feed(channel, items, server.url("/feeds/videos.xml")),
                                               content_type="application/atom+xml")
    # A video site has a front page: the monitor's proof that the site itself is up.
    server.routes.setdefault("/", Route(body=front_page(channel, [(it["title"], it["link"]) for it in items])))
    return server.url("/feed.xml")


def publish_samples(server: LoopbackServer, samples_dir: Path, on_route: Callable[[str, Route], None] | None = None) -> str:
    """Publish the bundled samples on the server; returns the URL of their RSS 'channel'."""
    meta = json.loads((samples_dir / "samples.json").read_text(encoding="utf-8"))
    return publish_feed(server, [{**clip, "path": samples_dir / f"{clip['name']}.mp4"} for clip in meta["clips"]],
                        meta["channel"]["name"])
