"""FastAPI application: search page, video page, archived files, export and JSON API."""

from __future__ import annotations

import logging
import mimetypes
import os
import threading
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional, cast
from urllib.parse import urlencode, urlsplit

import jinja2
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from pipeline import __version__, records
from pipeline.asr.subtitles import clock as fmt_time
from pipeline.config import Settings
from pipeline.copies import network as net
from pipeline.errors import ClipwatchError, NotFoundError, QueryError
from pipeline.preservation.removals import removed_listing
from pipeline.search import views
from pipeline.search.citation import all_formats, cite, to_text
from pipeline.search.export import FORMATS, MEDIA_TYPES, export_hits
from pipeline.search.facade import MODES, SORTS, SOURCES, STATUSES, SearchQuery, search
from pipeline.speakers.voices import voices_report
from pipeline.storage.base import Catalogue, ObjectStore, blob_store_for, catalogue_for
from pipeline.storage.sqlite.catalogue import Store
from pipeline.web.day import register as register_day
from pipeline.web.feeds import register as register_feeds
from pipeline.web.history import register as register_history
from pipeline.web.recorders import register as register_recorders
from pipeline.web.remote import remote_file_response, safe_rel
from pipeline.web.replay import register as register_replay

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
SEARCH_PARAMS = ("q", "channel", "category", "min_score", "language", "since", "until", "status", "sort", "limit", "cursor", "mode", "source")
# The trend chart is an SVG document of its own (loaded as an image): matplotlib styles it inline.
CHART_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
CSP = ("default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class _Stores:
    """One catalogue connection per worker thread (sqlite connections are not shared)."""

    def __init__(self, db_path: Path, opener: Any = None):
        self.db_path = db_path
        # catalogue_for(settings): SQLite (a read-only archive is served read-only) or PostgreSQL
        self.opener = opener or (lambda: Store.for_reading(self.db_path))
        self.local = threading.local()
        self.lock = threading.Lock()
        self.all: list[Catalogue] = []

    def get(self) -> Catalogue:
        st = getattr(self.local, "store", None)
        if st is None:
            st = self.opener()
            self.local.store = st
            with self.lock:
                self.all.append(st)
        return st

    def close(self) -> None:
        with self.lock:
            for st in self.all:
                try:
                    st.close()
                except Exception:  # closing from another thread at shutdown
                    pass
            self.all.clear()


def safe_href(url: str | None) -> str | None:
    """Only http(s) links from the platforms become clickable; javascript:, data: and the like do not."""
    if not url:
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


def _opt(params: dict[str, Any], key: str) -> str | None:
    v = params.get(key)
    if v is None:
        return None
    v = str(v).strip()
    return v or None


def query_from_params(params: dict[str, Any]) -> SearchQuery:
    """Build a SearchQuery from string parameters; bad values raise QueryError (-> 400)."""
    limit_s = _opt(params, "limit")
    min_s = _opt(params, "min_score")
    try:
        limit = int(limit_s) if limit_s is not None else 20
    except ValueError:
        raise QueryError(f"limit must be a whole number, not {limit_s!r}") from None
    try:
        min_score = float(min_s) if min_s is not None else None
    except ValueError:
        raise QueryError(f"min_score must be a number between 0 and 1, not {min_s!r}") from None
    return SearchQuery(
        text=_opt(params, "q") or "", channel=_opt(params, "channel"), category=_opt(params, "category"),
        min_score=min_score, language=_opt(params, "language"), since=_opt(params, "since"), until=_opt(params, "until"),
        status=_opt(params, "status"), sort=_opt(params, "sort") or "relevance", limit=limit,
        cursor=_opt(params, "cursor"), mode=_opt(params, "mode") or "auto", source=_opt(params, "source") or "all",
    )


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


class HeadAsGet:
    """Answer HEAD as GET without the body (same status and headers, Content-Length included)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message):
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_headers_only)


def allowed_hosts(extra: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """Host names the UI answers to: loopback, plus CLIPWATCH_ALLOWED_HOSTS (comma-separated) and ``extra``.

    A page on another site can make a browser send requests to 127.0.0.1 under its own name (DNS rebinding);
    answering only to known names keeps such a page from reading the archive.
    """

    env = [h.strip() for h in os.environ.get("CLIPWATCH_ALLOWED_HOSTS", "").split(",") if h.strip()]
    return list(dict.fromkeys([*LOOPBACK_HOSTS, *env, *(extra or [])]))


def create_app(settings: Settings | None = None, hosts: list[str] | None = None) -> FastAPI:
    """``hosts``: Host header names to answer besides loopback (and CLIPWATCH_ALLOWED_HOSTS); ``["*"]`` any."""
    s = settings or Settings()
    s.check_data_dir()
    if not s.db_path.exists():
        s.ensure_dirs()
    archive_root = s.archive_dir.resolve()
    # Originals on an object store (CLIPWATCH_STORAGE_URL) are streamed from it; derivatives stay in archive/.
    # CLIPWATCH_STORAGE_URL names an object store (s3): originals are read from it
    remote_blobs = cast(ObjectStore, blob_store_for(s)) if s.storage_url else None
    stores = _Stores(s.db_path, lambda: catalogue_for(s, reading=True))
    stores.get()  # create/migrate the catalogue now, not on the first request

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )
    env.filters["t"] = fmt_time
    env.filters["href"] = safe_href
    env.globals["cite_hit"] = lambda g, h: to_text(cite(g, None, seconds=h.start))
    env.globals.update(version=__version__, modes=MODES, sources=SOURCES, sorts=SORTS, statuses=STATUSES, formats=FORMATS)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        stores.close()

    app = FastAPI(
        lifespan=lifespan,
        title="clipwatch",
        version=__version__,
        description="Search archived state-media video transcripts; every page has a JSON twin under /api.",
        docs_url=None,   # served below from swagger-ui-bundle's files, under the same CSP (works offline)
        redoc_url=None,  # ReDoc would load from a CDN
    )
    app.state.settings = s
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    try:
        import swagger_ui_bundle  # optional: without it /docs has no Swagger UI, the rest serves

        app.mount("/docs-assets", StaticFiles(directory=str(swagger_ui_bundle.swagger_ui_path)), name="docs-assets")
        has_swagger = True
    except ImportError:
        has_swagger = False

    app.add_middleware(HeadAsGet)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(hosts))

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    def page(name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**ctx), status_code=status)

    register_history(app, stores.get, page, env)  # /videos/{id}/history, its JSON twin, per-version downloads
    register_replay(app, stores.get, page, lambda: blob_store_for(s))  # /videos/{id}/capture: the page as captured
    register_feeds(app, stores.get)  # /feeds/removals.atom, /feeds/changes.atom (Atom 1.0, ?channel=)
    register_day(app, stores.get, page)  # /channels/{id}/day/{date}: the programme guide, and its JSON twin
    register_recorders(app, s, page)  # /recorders: live recorders' backlog (issue 25)

    def error(request: Request, status: int, message: str) -> Response:
        if wants_json(request):
            return JSONResponse({"error": message, "status": status}, status_code=status)
        return page("error.html", status=status, status_code=status, message=message, params={})

    @app.exception_handler(QueryError)
    async def _query_error(request: Request, exc: QueryError):
        return error(request, 400, str(exc))

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError):
        return error(request, 404, str(exc))

    @app.exception_handler(ClipwatchError)
    async def _cw_error(request: Request, exc: ClipwatchError):
        return error(request, 400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        msgs = "; ".join(f"{'.'.join(str(x) for x in e.get('loc', [])[1:])}: {e.get('msg')}" for e in exc.errors())
        return error(request, 422, f"bad parameter: {msgs}")

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        resp = await call_next(request)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        resp.headers.setdefault("Content-Security-Policy", CSP)
        return resp

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs_page():
        if not has_swagger:
            raise NotFoundError("the API documentation needs the swagger-ui-bundle package; /openapi.json has it all")
        return HTMLResponse(DOCS_HTML)

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError):
        return error(request, 400, "a number in the request is out of range")

    def filter_options(store: Catalogue) -> dict[str, list[str]]:
        return store.filter_options()

    def run_search(params: dict[str, Any]):
        q = query_from_params(params)
        return search(stores.get(), q, archive_dir=archive_root)

    # -- pages -----------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def search_page(request: Request):
        params = {k: v for k, v in request.query_params.items() if k in SEARCH_PARAMS}
        store = stores.get()
        results, message = None, None
        if (params.get("q") or "").strip():
            try:
                results = run_search(params)
            except QueryError as exc:
                message = str(exc)
        keep = {k: v for k, v in params.items() if v and k != "cursor"}
        next_url = None
        if results is not None and results.next_cursor:
            next_url = "/?" + urlencode({**keep, "cursor": results.next_cursor})
        export_qs = urlencode({k: v for k, v in keep.items() if k != "limit"})
        chart_qs = None
        if results is not None and results.mode in ("word", "substring", "bigram"):
            chart_qs = urlencode({k: v for k, v in (("q", params.get("q")), ("channel", params.get("channel")),
                                                    ("category", params.get("category"))) if v}
                                 | {"by": by if (by := request.query_params.get("by")) in views.BY else "month"})
        count = store.video_count()
        return page("search.html", status=400 if message else 200, params=params, results=results, message=message,
                     next_url=next_url, export_qs=export_qs, chart_qs=chart_qs, video_count=count, **filter_options(store))

    def trend_query(params: dict[str, Any]) -> views.TrendQuery:
        return views.TrendQuery(text=_opt(params, "q") or "", by=_opt(params, "by") or "month",
                                channel=_opt(params, "channel"), category=_opt(params, "category"))

    @app.get("/trends.svg", include_in_schema=False)
    def trends_svg(request: Request):
        """The mentions-over-time chart of the search page, drawn on the server (matplotlib, no build step)."""
        t = views.trends(stores.get(), trend_query(dict(request.query_params)))
        return Response(views.plot_trends(t, "svg"), media_type="image/svg+xml",
                        headers={"Content-Security-Policy": CHART_CSP, "Cache-Control": "no-store"})

    @app.get("/channels", response_class=HTMLResponse, include_in_schema=False)
    def channels_page():
        return page("channels.html", params={}, channels=views.channel_list(stores.get()))

    @app.get("/removed", response_class=HTMLResponse, include_in_schema=False)
    def removed_page():
        store = stores.get()
        return page("removed.html", params={}, videos=removed_listing(store, views.removed_list(store)))

    @app.get("/recent", response_class=HTMLResponse, include_in_schema=False)
    def recent_page():
        return page("recent.html", params={}, videos=views.recent_list(stores.get(), 100))

    def video_context(video_id: str) -> dict[str, Any]:
        rec = records.load(stores.get(), video_id)
        media = rec.media
        media_ok = bool(media and (_inside(archive_root, media["path"]) is not None or (
            remote_blobs is not None and safe_rel(media["path"]) and remote_blobs.head(media["path"]) is not None)))
        folder = rec.row.get("folder")
        audio_only = bool(media and media.get("container") is not None and not media.get("video_codec"))
        picture = next((k for k in ("thumbnail.jpg", "thumbnail.png", "thumbnail.webp")
                        if folder and _inside(archive_root, f"{folder}/{k}") is not None), None)
        return {
            "audio_only": audio_only, "picture_url": f"/files/{folder}/{picture}" if picture else None,
            "video": rec.row, "media": rec.media, "media_ok": media_ok,
            "media_url": f"/files/{media['path']}" if media_ok and media else None,
            "keyframes": rec.keyframes, "lines": rec.lines(),
            "transcripts": [{k: v for k, v in t.items() if k != "segments"} for t in rec.transcripts],
            "tags": rec.tags, "events": rec.events, "citation": all_formats(cite(rec.row, rec.media)),
            "categories": rec.categories, "platform_tags": rec.platform_tags,
            "copies": rec.copies, "screen_text": rec.segments("screen"), "removals": rec.removals,
            "voices": _voices(video_id), "comments": _comments(rec),
        }

    def _comments(rec: records.ArchivedVideo) -> dict[str, Any] | None:
        ct = rec.comments_transcript  # the platform's comments (issue 23), read from comments.json when it is here
        return None if ct is None else rec.comments(_inside(archive_root, ct["path"] or ""))

    def _voices(video_id: str) -> list[dict[str, Any]]:
        return voices_report(stores.get(), video_id)["speakers"]

    @app.get("/videos/{video_id}", response_class=HTMLResponse, include_in_schema=False)
    def video_page(video_id: str, t: Optional[str] = None):
        start = _parse_t(t)
        ctx = video_context(video_id)
        hit_cite = all_formats(cite(ctx["video"], ctx["media"], seconds=start)) if start is not None else None
        return page("video.html", start=start, hit_citation=hit_cite, params={}, **ctx)

    def network_data(channel: list[str], since: str | None):
        return net, net.network_from_store(stores.get(), archive_root, channels=[c for c in channel if c.strip()],
                                           since=(since or "").strip() or None)

    @app.get("/network", response_class=HTMLResponse, include_in_schema=False)
    def network_page(channel: list[str] = Query([]), since: Optional[str] = None):
        net, g = network_data(channel, since)
        svg = net.to_svg(g, link=lambda c: "/network?" + urlencode({"channel": c}))
        return page("network.html", params={}, network=g, svg=svg, channel=channel, since=since or "",
                    note=net.SIGNAL_NOTE)

    @app.get("/api/network", tags=["copies"], summary="Channels that republish each other's videos (nodes, edges)")
    def api_network(channel: list[str] = Query([]), since: Optional[str] = None,
                    format: str = Query("json")) -> Response:
        net, g = network_data(channel, since)
        if format == "graphml":
            return Response(net.to_graphml(g), media_type="application/graphml+xml")
        if format == "csv":
            return PlainTextResponse(net.to_csv(g), media_type="text/csv; charset=utf-8")
        if format != "json":
            raise QueryError(f"format {format!r}: choose json, graphml or csv")
        return JSONResponse(net.to_json(g))

    @app.get("/api/videos/{video_id}/copies", tags=["copies"], summary="Copy links of a video: copied from, copies elsewhere")
    def api_copies(video_id: str) -> dict[str, Any]:
        store = stores.get()
        vid = store.get_video(video_id)["id"]
        return {"video_id": vid, **store.video_copies(vid)}

    @app.get("/files/{path:path}", include_in_schema=False)
    def archived_file(path: str, request: Request):
        """An archived file (media, keyframe, thumbnail), from inside the archive only; Range supported."""
        target = _inside(archive_root, path)
        if target is None and remote_blobs is not None and path.startswith("media/"):
            return remote_file_response(remote_blobs, path, request.headers.get("range"))
        if target is None:
            raise NotFoundError("no such archived file")
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return FileResponse(target, media_type=ctype, headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/export", include_in_schema=False)
    def export_page(request: Request):
        return _export(dict(request.query_params))

    def _export(params: dict[str, Any]) -> Response:
        fmt = _opt(params, "format") or "csv"
        if fmt not in FORMATS:
            raise QueryError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
        max_s = _opt(params, "max") or "10000"
        try:
            max_hits = int(max_s)
        except ValueError:
            raise QueryError(f"max must be a whole number, not {max_s!r}") from None
        if not 1 <= max_hits <= 100_000:
            raise QueryError("max must be between 1 and 100000")
        q = replace(query_from_params({**params, "limit": "20"}), cursor=None)
        data = export_hits(stores.get(), q, fmt, max_hits=max_hits, archive_dir=archive_root)
        return Response(data, media_type=MEDIA_TYPES[fmt],
                        headers={"Content-Disposition": f'attachment; filename="clipwatch-hits.{fmt}"'})

    # -- JSON API ----------------------------------------------------------------
    @app.get("/api/search", tags=["search"], summary="Search transcripts and translations")
    def api_search(
        q: str = Query(..., min_length=1, max_length=1000, description='Words, "phrases", OR, NOT, prefix*, NEAR(a b, 5); Hangul → substring'),
        channel: Optional[str] = None,
        category: Optional[str] = Query(None, description="news, music, propaganda"),
        min_score: Optional[float] = Query(None, ge=0, le=1),
        language: Optional[str] = Query(None, description="spoken language of the video"),
        since: Optional[str] = Query(None, description="upload date YYYY[-MM[-DD]]"),
        until: Optional[str] = Query(None, description="upload date YYYY[-MM[-DD]]"),
        status: Optional[str] = Query(None, description="available | removed | unknown"),
        sort: str = Query("relevance", description="relevance | date | date_asc"),
        limit: int = Query(20, ge=1, le=1000),
        cursor: Optional[str] = None,
        mode: str = Query("auto", description="auto | word | substring | semantic | hybrid"),
        source: str = Query("all", description="speech | screen (text on screen) | comments (the platform's) | all"),
    ) -> dict[str, Any]:
        """Hits grouped by video; the shape is documented in docs/search.md (same as `clipwatch search --json`)."""
        res = search(stores.get(), SearchQuery(q, channel, category, min_score, language, since, until, status, sort, limit, cursor, mode,
                                                   source),
                     archive_dir=archive_root)
        return res.to_dict()

    @app.get("/api/export", tags=["search"], summary="All hits of a query as csv | json | jsonl | srt")
    def api_export(request: Request, q: str = Query(..., min_length=1), format: str = Query("csv")):
        return _export(dict(request.query_params))

    @app.get("/api/trends", tags=["search"], summary="Mentions of a query over time, per channel")
    def api_trends(
        q: str = Query(..., min_length=1, max_length=1000),
        by: str = Query("month", description="week | month | year"),
        channel: Optional[str] = None,
        category: Optional[str] = None,
    ) -> dict[str, Any]:
        return views.trends(stores.get(), views.TrendQuery(q, by=by, channel=channel, category=category)).to_dict()

    @app.get("/api/channels", tags=["browse"], summary="Channels: videos, first/last upload, removed, registry entry")
    def api_channels() -> list[dict[str, Any]]:
        return views.channel_list(stores.get())

    @app.get("/api/removed", tags=["browse"], summary="Videos no longer available at the source")
    def api_removed() -> list[dict[str, Any]]:
        store = stores.get()
        return removed_listing(store, views.removed_list(store))

    @app.get("/api/recent", tags=["browse"], summary="Recently archived videos")
    def api_recent(limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
        return views.recent_list(stores.get(), limit)

    @app.get("/api/videos/{video_id}", tags=["videos"], summary="One archived video: metadata, provenance, tags, events, citation")
    def api_video(video_id: str) -> dict[str, Any]:
        ctx = video_context(video_id)
        ctx.pop("lines")
        return ctx

    @app.get("/api/videos/{video_id}/transcript", tags=["videos"], summary="Timed transcript with translation lines")
    def api_transcript(video_id: str) -> dict[str, Any]:
        ctx = video_context(video_id)
        return {"video_id": ctx["video"]["id"], "transcripts": ctx["transcripts"], "segments": ctx["lines"]}

    @app.get("/api/videos/{video_id}/citation", tags=["videos"], summary="Citation of a video or a moment in it")
    def api_citation(video_id: str, t: Optional[float] = Query(None, ge=0, lt=10**7), format: str = Query("json")):
        store = stores.get()
        v = store.get_video(video_id)
        media = store.media_file(v["media_sha256"], v["id"]) if v["media_sha256"] else None
        c = cite(v, media, seconds=t)
        forms = all_formats(c)
        if format == "json":
            return {**c.to_dict(), **forms}
        if format == "text":
            return PlainTextResponse(forms["text"])
        if format == "bibtex":
            return PlainTextResponse(forms["bibtex"], media_type="application/x-bibtex")
        if format == "csl":
            return JSONResponse([forms["csl"]], media_type="application/vnd.citationstyles.csl+json")
        raise QueryError("format must be one of: json, text, bibtex, csl")

    @app.get("/healthz", include_in_schema=False)
    def healthz():
        return {"ok": True, "version": __version__}

    return app


DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>clipwatch API</title>
<link rel="stylesheet" href="/docs-assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs-assets/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script>
</body></html>
"""


def _inside(root: Path, rel: str) -> Path | None:
    """The file at ``rel`` under ``root``, or None if it is outside, hidden, or not a regular file."""
    if not rel or "\x00" in rel or rel.startswith(("/", "\\")):
        return None
    parts = Path(rel).parts
    if any(p in ("..", "") or p.startswith(".") for p in parts):
        return None
    try:
        target = (root / rel).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    if not target.is_relative_to(root) or not target.is_file():
        return None
    return target


def _parse_t(t: str | None) -> float | None:
    if t is None or t.strip() == "":
        return None
    v = t.strip().removesuffix("s")
    try:
        if ":" in v:
            secs = 0.0
            for part in v.split(":"):
                secs = secs * 60 + float(part)
            val = secs
        else:
            val = float(v)
    except ValueError:
        raise QueryError(f"t must be seconds (e.g. 83) or mm:ss, not {t!r}") from None
    if not 0 <= val < 10**7 or val != val:
        raise QueryError("t out of range")
    return val
