"""Emit a Prefect event and confirm the server stored it.

``emit_event`` never raises: without a reachable server or credentials it returns None or drops the
event in a background worker. A drift alert that silently vanishes would leave a drifted model in
service, so every emission is followed by a read-back of the event by its id, and a named error
when it does not arrive.

Without ``PREFECT_API_URL`` Prefect runs an ephemeral server for this process; the event is still
stored and confirmed (in ``PREFECT_HOME``'s database), but no deployment trigger is listening to it.
``EmittedEvent.target`` says which of the two happened.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
from prefect.exceptions import PrefectHTTPStatusError
from pydantic import BaseModel, ConfigDict

from tasks.errors import EventNotDelivered

DRIFT_EVENT = "tunegate.drift.detected"
ROLLED_BACK_EVENT = "tunegate.model.rolled_back"
logger = logging.getLogger(__name__)


class EmittedEvent(BaseModel):
    """A confirmed event: its id, name, resource id and where it went."""

    model_config = ConfigDict(frozen=True)

    id: str
    event: str
    resource_id: str
    target: str  # "server <url>" or "ephemeral (no PREFECT_API_URL: nothing will react to it)"


def model_resource(model_name: str) -> dict[str, str]:
    """The model as an event resource; the contract's label and Prefect's required one carry the same id."""
    rid = f"tunegate.model.{model_name}"
    return {"prefect.resource.id": rid, "prediction.resource.id": rid, "prefect.resource.name": model_name}


def api_target() -> str:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    return f"server {url}" if url else "ephemeral (no PREFECT_API_URL: nothing will react to it)"


def _resource_id(resource: dict[str, str]) -> str:
    return resource.get("prefect.resource.id") or resource.get("prediction.resource.id") or ""


def _as_prefect_resource(resource: dict[str, str]) -> dict[str, str]:
    # Prefect requires "prefect.resource.id"; the contract's "prediction.resource.id" label rides along.
    out = dict(resource)
    out.setdefault("prefect.resource.id", _resource_id(resource))
    return out


def find_event(event_id: str, event: str, timeout_s: float = 20.0, poll_s: float = 0.5) -> bool:
    """Poll the API's ``/events/filter`` for one event id until it appears or time runs out."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventIDFilter, EventNameFilter, EventOccurredFilter
    from prefect.types._datetime import now

    flt = EventFilter(id=EventIDFilter(id=[uuid.UUID(event_id)]), event=EventNameFilter(name=[event]),
                      occurred=EventOccurredFilter(since=now("UTC") - timedelta(hours=1),
                                                   until=now("UTC") + timedelta(hours=1)))
    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while True:
            try:
                page = client.read_events(filter=flt, limit=1)
                if any(str(e.id) == event_id for e in page.events):
                    return True
            except (httpx.HTTPError, PrefectHTTPStatusError, OSError) as e:
                # server still starting or briefly unavailable: keep polling until the deadline
                logger.debug("event read-back failed: %s", type(e).__name__)
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll_s)


def emit_verified(event: str, resource: dict[str, str], payload: dict[str, Any],
                  timeout_s: float = 20.0) -> EmittedEvent:
    """Emit ``event`` and wait until the server returns it; raise EventNotDelivered otherwise."""
    from prefect.events import emit_event
    from prefect.events.worker import EventsWorker

    event_id = uuid.uuid4()
    resource = _as_prefect_resource(resource)
    target = api_target()
    sent = emit_event(event=event, resource=resource, payload=payload, id=event_id)
    if sent is None:
        raise EventNotDelivered(
            f"{event}: Prefect refused to emit it (target: {target}); check PREFECT_API_URL and, for "
            "Prefect Cloud, PREFECT_API_KEY, then run the monitor again.")
    EventsWorker.instance().wait_until_empty()  # push it out now, not whenever the worker gets round to it
    if not find_event(str(event_id), event, timeout_s=timeout_s):
        raise EventNotDelivered(
            f"{event} {event_id} was emitted but not found on the server within {timeout_s:g}s "
            f"(target: {target}); check that the server is running and reachable, and its credentials.")
    return EmittedEvent(id=str(event_id), event=event, resource_id=_resource_id(resource), target=target)
