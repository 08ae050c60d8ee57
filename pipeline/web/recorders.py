"""Live recorders on the web (issue 25): each channel's state and backlog — minutes of air recorded and not yet
analysed —, the stages it sheds to keep up, its gaps. ``/recorders`` and its JSON twin ``/api/recorders``; registered
by ``register`` (one line in ``create_app``); reads ``pipeline.broadcast.status`` (the recorders' status files)."""

from __future__ import annotations

from typing import Any, Callable

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from pipeline.broadcast.status import read_status
from pipeline.config import Settings


def register(app: FastAPI, settings: Settings, page: Callable[..., HTMLResponse]) -> None:
    """Add ``/recorders`` and ``/api/recorders`` to the app.

    Arguments: app — the FastAPI app; settings — the archive's settings (its data folder holds the recorders'
    status); page — renders a template.
    """

    @app.get("/recorders", response_class=HTMLResponse, include_in_schema=False)
    def recorders_page():
        return page("recorders.html", params={}, recorders=read_status(settings.data_dir))

    @app.get("/api/recorders", tags=["recorders"], summary="Live recorders: state, backlog, shed stages, gaps")
    def api_recorders() -> dict[str, Any]:
        return {"recorders": read_status(settings.data_dir)}
