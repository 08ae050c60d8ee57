"""The clipwatch web UI and JSON API: ``create_app(settings) -> FastAPI``.

Server-rendered Jinja2 pages (autoescaped: every title, channel and transcript
line is untrusted text from the platforms), one small static script, and a JSON
API that mirrors the pages (``/api/search``, ``/api/videos/{id}``,
``/api/videos/{id}/transcript``; OpenAPI at ``/docs``). Archived files are
served from inside the archive folder only, with HTTP range requests so the
player can seek. Bind to 127.0.0.1: there is no login.
"""

from .app import create_app

__all__ = ["create_app"]
