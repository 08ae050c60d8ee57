"""Prefect flows over the clipwatch library: ingest, monitor, reprocess, verify.

Call ``configure_prefect(settings)`` before importing a flow module: Prefect reads
its settings from the environment when it is first imported.
"""

from __future__ import annotations

import os

from pipeline.config import Settings


def configure_prefect(settings: Settings, quiet: bool = True) -> None:
    """Run Prefect offline: local state under the data dir, no telemetry, no remote API unless the user set one."""
    settings.prefect_home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(settings.prefect_home))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "false")
    if quiet:
        # Failures a user can cause are reported by clipwatch itself, one line each;
        # Prefect's own ERROR lines for the same failed task would repeat them.
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
        os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
