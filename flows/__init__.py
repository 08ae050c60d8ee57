"""Prefect flows over the clipwatch library: ingest, monitor, reprocess, verify.

Call ``configure_prefect(settings)`` before importing a flow module: Prefect reads
its settings from the environment when it is first imported.
"""

from __future__ import annotations

import os
import subprocess
import sys

from pipeline.config import Settings


def disable_telemetry() -> None:
    """Prefect's usage analytics off (client and server) for this process and every process it starts.

    Opt in with ``CLIPWATCH_TELEMETRY=1``: then Prefect's own settings (``DO_NOT_TRACK``,
    ``PREFECT_SERVER_ANALYTICS_ENABLED``) decide, as Prefect documents.
    """
    if os.environ.get("CLIPWATCH_TELEMETRY", "0") == "1":
        return
    os.environ["DO_NOT_TRACK"] = "1"                       # Prefect's SDK telemetry and its first-run notice
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"  # the server's analytics service


def configure_prefect(settings: Settings, quiet: bool = True) -> None:
    """Run Prefect offline: local state under the data dir, no telemetry, no remote API unless the user set one."""
    settings.prefect_home.mkdir(parents=True, exist_ok=True)
    disable_telemetry()
    os.environ.setdefault("PREFECT_HOME", str(settings.prefect_home))
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "false")
    if quiet:
        # Failures a user can cause are reported by clipwatch itself, one line each;
        # Prefect's own ERROR lines for the same failed task would repeat them.
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
        os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
        os.environ["CLIPWATCH_PREFECT_SERVER_QUIET"] = "1"
    if not os.environ.get("PREFECT_API_URL"):
        # Only a run without a server starts Prefect's temporary one; importing its module to guard it costs
        # seconds (8–9 s measured on a loaded 2-core machine), paid for nothing when a server is configured.
        guard_temporary_server()


def guard_temporary_server() -> None:
    """Make Prefect's temporary API server die with the process that started it.

    Prefect starts it as a plain child (``python -m uvicorn …``) and stops it at exit; a kill -9 skips that and
    leaves it running, reparented to PID 1. Started through ``flows.server_guard`` instead, it watches its parent
    and stops itself when the parent is gone.
    """
    try:
        from prefect.server.api.server import SubprocessASGIServer
    except ImportError:  # another Prefect layout: nothing to guard
        return
    original = getattr(SubprocessASGIServer, "_run_uvicorn_command", None)
    if original is None or getattr(original, "_clipwatch_guarded", False):
        return

    def run_guarded(self) -> subprocess.Popen:
        class GuardedPopen(subprocess.Popen):  # only this call: argv goes through the guard
            def __init__(self, args, *a, **kw):
                if list(args[:3]) == [sys.executable, "-m", "uvicorn"]:
                    args = [sys.executable, "-m", "flows.server_guard", str(os.getpid()), *args[3:]]
                    if os.environ.get("CLIPWATCH_PREFECT_SERVER_QUIET") == "1":
                        # Its errors (e.g. its own database on a full disk) would repeat clipwatch's one line.
                        kw.setdefault("stdout", subprocess.DEVNULL)
                        kw.setdefault("stderr", subprocess.DEVNULL)
                super().__init__(args, *a, **kw)

        import prefect.server.api.server as server_module

        # Prefect's server module sees a shim for its `subprocess` name during this one call (a module typed as one)
        server_module.subprocess = _SubprocessShim(GuardedPopen)  # type: ignore[assignment]
        try:
            return original(self)
        finally:
            server_module.subprocess = subprocess

    run_guarded._clipwatch_guarded = True  # type: ignore[attr-defined]
    SubprocessASGIServer._run_uvicorn_command = run_guarded  # type: ignore[method-assign]  # patching Prefect's class


class _SubprocessShim:
    """The ``subprocess`` module as Prefect's server module sees it, with Popen replaced."""

    def __init__(self, popen):
        self.Popen = popen

    def __getattr__(self, name):
        return getattr(subprocess, name)
