"""Shared fixtures for every room's tests (tests/<room>/test_*.py). Media are built offline; the network is a loopback
server; PostgreSQL and S3 are throwaway servers on loopback that the tests start themselves.

Helpers that tests import by name (``from conftest import SAMPLES, publish_page``, ``_search_catalogue``) live at
tests/; this folder stays on sys.path (below) so that they import the same from every room's folder.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

# pytest's default (prepend) import mode puts this folder on sys.path when it imports this file; said here so that
# the helpers above do not rest on the import mode
TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
# A few test modules import another room's test module by name (test_doctor: `from test_ocr import captioned_video`,
# test_faults: `from test_schema_sql import …`, test_postgres_catalogue: `from test_search_forgiving import …`), as
# they did when tests/ was flat. Every room's folder goes on sys.path (appended: never ahead of an installed package),
# so those imports work whichever rooms run, alone or together; pytest's rootless folders (no __init__.py) need unique
# test file names anyway, so a name still means one file.
for _room in sorted(TESTS.iterdir()):
    if _room.is_dir() and any(_room.glob("test_*.py")) and str(_room) not in sys.path:
        sys.path.append(str(_room))

from pipeline.config import Settings, samples_dir  # noqa: E402
from pipeline.demo.loopback import LoopbackServer, Route, publish_samples, watch_page  # noqa: E402
from pipeline.storage.files import Archive  # noqa: E402
from pipeline.storage.sqlite.catalogue import Store  # noqa: E402
from pipeline.testing.postgres import PostgresCluster  # noqa: E402
from pipeline.testing.s3 import S3Server  # noqa: E402

SAMPLES = samples_dir()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch) -> Path:
    d = tmp_path / "data"
    monkeypatch.setenv("CLIPWATCH_DATA", str(d))
    return d


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    s = Settings(data_dir=data_dir, model="tiny.en", translate=False)
    s.ensure_dirs()
    return s


@pytest.fixture
def store(settings: Settings):
    with Store(settings.db_path) as st:
        yield st


@pytest.fixture
def archive(settings: Settings) -> Archive:
    return Archive(settings.archive_dir)


@pytest.fixture
def server():
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture
def demo_channels():
    """The registry as `clipwatch demo` has it while it runs: the one in use plus the sample outlet at the demo's
    site (port 8765); the shipped registry has no loopback entry."""
    from pipeline.demo.registry import demo_registry

    with demo_registry("http://127.0.0.1:8765") as path:
        yield path


@pytest.fixture
def sample_feed(server: LoopbackServer) -> str:
    """The bundled samples published as an RSS 'channel' of watch pages."""
    return publish_samples(server, SAMPLES)


def publish_page(server: LoopbackServer, name: str, media: Path | bytes, title: str, **meta) -> str:
    """Publish one watch page + media file; returns the page URL."""
    media_route = Route.file(media) if isinstance(media, Path) else Route(body=media, content_type="video/mp4")
    server.routes[f"/media/{name}.mp4"] = media_route
    server.routes[f"/watch/{name}.html"] = Route(body=watch_page(title, meta.pop("description", ""), server.url(f"/media/{name}.mp4"), **meta))
    return server.url(f"/watch/{name}.html")


@pytest.fixture(scope="session")
def pg():
    """A throwaway PostgreSQL cluster on loopback (initdb into a temporary folder), one per session."""
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 server on loopback, one per session."""
    with S3Server() as server:
        yield server


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch):
    """The S3 server with this process's environment pointing at it (endpoint and dummy credentials)."""
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    return s3_server


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """One ephemeral Prefect API for the whole session (~10 s to start)."""
    home = tmp_path_factory.mktemp("prefect-home")
    os.environ["PREFECT_HOME"] = str(home)
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@contextmanager
def serve_app(app):
    """Serve an ASGI app with uvicorn on a free loopback port in a thread; yields its base URL, stops it after."""
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
