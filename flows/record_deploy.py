"""A channel's recorder as a long-lived Prefect deployment (issue 25: "it runs as a long-lived Prefect deployment per
channel too; ``clipwatch deploy`` registers it; a crashed recorder is restarted").

``clipwatch deploy --record URL --channel ID`` registers ``record/<channel>`` in the ``record`` work pool: a flow run
of ``record_channel_flow`` is ``clipwatch record URL --channel ID`` on whichever machine a ``clipwatch worker --pool
record`` runs. It is started again two ways:

* a run that *fails* (the stream never starts, the analysis stopped) is retried by Prefect itself, ``RESTARTS``
  times ``RESTART_DELAY`` seconds apart (the flow's retry policy, on each flow run);
* a run that *crashes* (its process killed, its machine lost: no Python left to retry it) is restarted by a Prefect
  automation that ``register_recorder`` creates with the deployment: on the event ``prefect.flow-run.Crashed`` of
  this deployment, run it again with the same parameters.

Either way the new run finds the recorder's ledger in ``<data>/record/<channel>`` and closes and archives the segment
the dead one had open, without recording any segment twice. The deployment's concurrency limit of 1 keeps one
recorder per channel. The deployment names its flow by module path, as the batch deployments do: the worker imports it
from the installed clipwatch package.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

from prefect import flow

from pipeline.config import Settings

from .pools import check_server, ensure_pools, prefect_client
from .record import record

if TYPE_CHECKING:
    from uuid import UUID

    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments.runner import RunnerDeployment

log = logging.getLogger(__name__)

RECORD_POOL = "record"
RESTARTS = 1000          # a recorder runs for ever: as good as unlimited, but finite so a broken stream shows in the UI
RESTART_DELAY = 60       # seconds: a stream that is down gets a minute before the next try


@flow(name="record", log_prints=False, retries=RESTARTS, retry_delay_seconds=RESTART_DELAY)
def record_channel_flow(url: str, channel: str, segment_seconds: float = 600.0, shed_after: float | None = None,
                        for_seconds: float | None = None, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record ``url`` as ``channel`` until the flow run is cancelled (or ``for_seconds``), each segment analysed as it
    closes (on the asr pool: the worker sets PREFECT_API_URL); what ``clipwatch record --json`` prints."""
    settings = Settings(**(options or {}))
    report = record(url, settings, channel, segment_seconds=segment_seconds, for_seconds=for_seconds,
                    shed_after=shed_after)
    return report.to_dict()


def automation_name(channel: str) -> str:
    return f"clipwatch: restart record/{channel} when it crashes"


def _ensure_restart_automation(client, deployment_id: Any, channel: str, parameters: dict[str, Any]) -> Any:
    """The automation that runs the deployment again when one of its flow runs crashes (replacing an older one)."""
    from prefect.events.actions import RunDeployment
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    name = automation_name(channel)
    for old in client.read_automations_by_name(name):
        client.delete_automation(old.id)
    automation = AutomationCore(
        name=name, description="clipwatch deploy --record: a recorder whose process died is started again",
        trigger=EventTrigger(expect={"prefect.flow-run.Crashed"}, posture=Posture.Reactive, threshold=1,
                             match_related={"prefect.resource.id": f"prefect.deployment.{deployment_id}"}),
        actions=[RunDeployment(source="selected", deployment_id=deployment_id, parameters=parameters,
                               job_variables=None)])
    return client.create_automation(automation)


def register_recorder(url: str, channel: str, segment_seconds: float = 600.0, shed_after: float | None = None,
                      start: bool = True) -> dict[str, Any]:
    """``clipwatch deploy --record``: the ``record`` pool, the ``record/<channel>`` deployment, its restart automation,
    and (``start``) its first flow run unless one is already scheduled or running.

    Arguments:
        url: the stream.
        channel: the channel's id in the archive (also the deployment's name).
        segment_seconds: segment length.
        shed_after: seconds of backlog past which optional stages are shed (None: the recorder's default).
        start: start a flow run now (the worker of the ``record`` pool takes it).

    Returns:
        The deployment's name, pool, parameters, retry policy, the automation's id and the flow run started (if any).
    """
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.deployments import run_deployment
    from prefect.types.entrypoint import EntrypointType

    check_server()
    parameters: dict[str, Any] = {"url": url, "channel": channel, "segment_seconds": segment_seconds,
                                  "shed_after": shed_after}
    with prefect_client() as client:
        created = ensure_pools(client)
    # called from sync code, Prefect's async_dispatch returns the deployment itself (typed "or a coroutine")
    deployment = cast("RunnerDeployment", record_channel_flow.to_deployment(
        channel, entrypoint_type=EntrypointType.MODULE_PATH, parameters=parameters, concurrency_limit=1,
        description=f"Record {url} as {channel}, each segment analysed as it closes; restarted when it crashes."))
    deployment_id = cast("UUID", deployment.apply(work_pool_name=RECORD_POOL))  # sync: the id itself
    started = None
    with prefect_client() as client:
        automation_id = _ensure_restart_automation(client, deployment_id, channel, parameters)
        live = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[
                StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING]))), limit=1)
    if start and not live:
        fr = cast("FlowRun", run_deployment(f"record/{channel}", timeout=0, as_subflow=False))
        started = str(fr.id)
    return {"deployment": f"record/{channel}", "pool": RECORD_POOL, "pools_created": created,
            "parameters": parameters, "retries": RESTARTS, "retry_delay_seconds": RESTART_DELAY,
            "concurrency_limit": 1, "restart_automation": str(automation_id), "flow_run": started,
            "already_running": bool(live)}
