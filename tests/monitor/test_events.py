"""Drift events: emitted, read back from a real (test-harness) Prefect server, or a named error."""

import uuid

import pytest

from tasks.errors import EventNotDelivered
from tasks.monitor.events import DRIFT_EVENT, emit_verified, find_event, model_resource


def test_model_resource_carries_contract_and_prefect_ids():
    r = model_resource("claims-classifier")
    assert r["prediction.resource.id"] == r["prefect.resource.id"] == "tunegate.model.claims-classifier"


@pytest.mark.integration
def test_emitted_event_is_found_on_the_server(prefect_harness):
    payload = {"batch": "/data/batch.jsonl", "marker": uuid.uuid4().hex}
    sent = emit_verified(DRIFT_EVENT, model_resource("m1"), payload, timeout_s=30)
    assert sent.resource_id == "tunegate.model.m1"
    assert sent.target.startswith("server ")

    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventIDFilter

    with get_client(sync_client=True) as client:
        page = client.read_events(filter=EventFilter(id=EventIDFilter(id=[uuid.UUID(sent.id)])), limit=5)
    [event] = page.events
    assert event.event == DRIFT_EVENT
    assert event.payload["marker"] == payload["marker"]
    assert event.resource["prediction.resource.id"] == "tunegate.model.m1"


@pytest.mark.integration
def test_unknown_event_id_is_not_found(prefect_harness):
    assert find_event(str(uuid.uuid4()), DRIFT_EVENT, timeout_s=1, poll_s=0.2) is False


@pytest.mark.integration
def test_unreachable_server_raises_named_error(prefect_harness):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}), pytest.raises(EventNotDelivered) as err:
        emit_verified(DRIFT_EVENT, model_resource("m1"), {"batch": "x"}, timeout_s=2)
    assert "127.0.0.1:9" in str(err.value)
