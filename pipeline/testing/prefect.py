"""A Prefect server on loopback for tests and benches, with its database on PostgreSQL (as at scale).

``prefect server start`` runs as a child in its own session on a free port of 127.0.0.1, its state under a
temporary ``PREFECT_HOME``; ``stop()`` ends that session (the server and anything it started) and nothing else.

    with PostgresCluster() as pg, PrefectServer(pg.create_database("prefect")) as server:
        env = server.env()       # PREFECT_API_URL and the quiet settings, for the clipwatch processes that use it
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipeline.testing.postgres import free_port


def asyncpg_url(url: str) -> str:
    """A ``postgresql://`` URL as Prefect's server wants it (SQLAlchemy with the asyncpg driver)."""
    scheme, rest = url.split("://", 1)
    if scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {url}")
    return f"postgresql+asyncpg://{rest}"


class PrefectServer:
    def __init__(self, database_url: str, host: str = "127.0.0.1", port: int | None = None,
                 startup_timeout: float = 180.0):
        self.database_url = asyncpg_url(database_url)
        self.host, self.port = host, port
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None
        self.tmp: Path | None = None

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    @property
    def log_path(self) -> Path:
        assert self.tmp is not None
        return self.tmp / "server.log"

    def env(self) -> dict[str, str]:
        """What a client process (CLI, worker) needs to use this server."""
        return {"PREFECT_API_URL": self.api_url, "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}

    def start(self) -> "PrefectServer":
        import httpx

        self.tmp = Path(tempfile.mkdtemp(prefix="clipwatch-prefect-"))
        self.port = self.port or free_port(self.host)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(PREFECT_HOME=str(self.tmp / "home"), PREFECT_API_DATABASE_CONNECTION_URL=self.database_url,
                   PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1", PREFECT_UI_ENABLED="false")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", self.host,
                                          "--port", str(self.port)], stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"prefect server exited ({self.proc.returncode}): {tail}")
            try:
                if httpx.get(self.api_url + "/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        tail = self.log_path.read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"prefect server did not answer within {self.startup_timeout:.0f} s: {tail}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: the server and its children only
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
            try:  # anything of its session still there
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def __enter__(self) -> "PrefectServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Worker:
    """``clipwatch worker --pool POOL`` as a child process (its output in a log file); stop() ends only it."""

    def __init__(self, pool: str, name: str, env: dict[str, str], data_dir: Path, log_path: Path,
                 limit: int | None = None):
        self.pool, self.name, self.log_path = pool, name, Path(log_path)
        argv = [sys.executable, "-m", "pipeline.cli", "--data-dir", str(data_dir), "worker", "--pool", pool,
                "--name", name]
        if limit:
            argv += ["--limit", str(limit)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def ran(self, flow_run_id: str) -> bool:
        """Whether this worker ran the flow run: it took it and the server did not give it to another worker first."""
        text = self.log_path.read_text(errors="replace")
        return (f"submitting flow run '{flow_run_id}'" in text
                and f"Aborted submission of flow run '{flow_run_id}'" not in text)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # Prefect's worker shuts down on Ctrl-C
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def wait_online(api_url: str, want: dict[str, int], timeout: float = 180) -> None:
    """Wait until each work pool has at least so many workers ONLINE; RuntimeError after ``timeout`` seconds."""
    import httpx

    online: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pool in want:
            resp = httpx.post(f"{api_url}/work_pools/{pool}/workers/filter",
                              json={"workers": {"status": {"any_": ["ONLINE"]}}}, timeout=10)
            online[pool] = len(resp.json()) if resp.status_code == 200 else 0
        if all(online[p] >= n for p, n in want.items()):
            return
        time.sleep(0.5)
    raise RuntimeError(f"workers did not come online within {timeout:.0f} s: {online}")


def flow_runs(api_url: str, flow_name: str) -> list[dict]:
    """Every flow run of one flow (JSON as the REST API gives it)."""
    import httpx

    resp = httpx.post(f"{api_url}/flow_runs/filter", json={"flows": {"name": {"any_": [flow_name]}}, "limit": 200},
                      timeout=10)
    resp.raise_for_status()
    return resp.json()
