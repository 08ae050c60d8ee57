"""A channel's broadcast day on the web: a programme guide on a timeline, and its JSON twin.

``/channels/<id>/day/<YYYY-MM-DD>`` draws the day's programmes (titled blocks), the recorded segments under them and
the time without signal (``gap`` events) as hatched blocks, as an SVG timeline over the hours that hold anything
(the site's CSP allows no inline style: SVG geometry is attributes), and lists each programme with a link that opens
its segment at the programme's first second. ``/api/channels/<id>/day/<date>`` is the same data as JSON
(``pipeline.programmes.day.read_day``). A bad date or channel is a 400, an empty day a page that says so.

Registered on the app by ``register`` (one line in ``create_app``).
"""

from __future__ import annotations

import math
from typing import Any, Callable

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from pipeline.programmes.boundaries import parse_air
from pipeline.programmes.day import read_day

WIDTH = 1000.0  # SVG user units across the drawn span


def _segment_at(segments: list[dict[str, Any]], air: str) -> tuple[str, float] | None:
    """(video id, seconds into it) of the segment airing at ``air``."""
    t = parse_air(air).timestamp()
    for seg in segments:
        s = parse_air(seg["air_start"]).timestamp()
        e = parse_air(seg["air_end"]).timestamp() if seg["air_end"] else s
        if s <= t < e or (s <= t and t - e < 1.0):
            return seg["video_id"], max(0.0, t - s)
    return None


def guide(day: dict[str, Any]) -> dict[str, Any]:
    """The page's drawing: the hours shown and each block's x and width in SVG units, plus links into segments.

    Arguments:
        day: what ``read_day`` returns.
    Returns:
        ``{"hours": [(x, label)], "programmes": [...], "segments": [...], "gaps": [...]}`` with ``x``/``w`` added.
    """
    items = day["programmes"] + day["segments"] + day["gaps"]
    if items:
        first = min(i["offset"] for i in items)
        last = max(i["offset"] + i["seconds"] for i in items)
        h0, h1 = math.floor(first / 3600), max(math.floor(first / 3600) + 1, math.ceil(last / 3600))
    else:
        h0, h1 = 0, 24
    span = (h1 - h0) * 3600.0
    scale = WIDTH / span

    def placed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [dict(r, x=round((r["offset"] - h0 * 3600) * scale, 2), w=round(max(r["seconds"] * scale, 0.8), 2))
                for r in rows]

    programmes = placed(day["programmes"])
    for p in programmes:
        at = _segment_at(day["segments"], p["air_start"])
        p["open"] = {"video_id": at[0], "t": round(at[1], 1)} if at else None
        p["kinds"] = sorted({c["kind"] for c in (p["evidence"].get("start") or {}).get("cues", [])})
    step = 1 if h1 - h0 <= 8 else 3
    hours = [(round((h - h0) * 3600 * scale, 2), f"{h % 24:02d}:00") for h in range(h0, h1 + 1, step)]
    return {"hours": hours, "programmes": programmes, "segments": placed(day["segments"]), "gaps": placed(day["gaps"]),
            "width": WIDTH}


def register(app: FastAPI, get_store: Callable[[], Any], page: Callable[..., HTMLResponse]) -> None:
    """Add the day view and its JSON twin to the app.

    Arguments: app — the FastAPI app; get_store — the request's catalogue; page — renders a template.
    """

    @app.get("/channels/{channel}/day/{date}", response_class=HTMLResponse, include_in_schema=False)
    def day_page(channel: str, date: str):
        day = read_day(get_store(), channel, date)
        return page("day.html", params={}, day=day, g=guide(day))

    @app.get("/api/channels/{channel}/day/{date}", tags=["channels"],
             summary="A recorded channel's day: programmes, segments and gaps in air time")
    def api_day(channel: str, date: str) -> dict[str, Any]:
        return read_day(get_store(), channel, date)
