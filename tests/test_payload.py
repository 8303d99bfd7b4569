"""The generic webhook: Zadig's body field for field with the seed, and the X-Zadig-* headers."""

import json
import uuid
from pathlib import Path

from tidings.channels.base import Destination
from tidings.config.loading import loads
from tidings.delivery.transport import prepare
from tidings.dispatch.plan import plan_event
from tidings.dispatch.task import parse_task

SEED_PATH = Path(__file__).parent / "data" / "seed_payload.json"
INSTANCE = "https://course.koderover.com"

CONFIG = """
system: {address: "https://course.koderover.com/", language: zh-cn}
workflows:
  - name: demo-workflow-dev
    display_name: 演示工作流
    project: yaml
    notify_ctls:
      - webhook_type: webhook
        notify_type: [passed]
        webhook_notification_config: {address: "https://hooks.example.com/a", token: s3cr3t}
      - webhook_type: webhook
        notify_type: [passed]
        webhook_notification_config: {address: "https://hooks.example.com/b"}
  - name: other-workflow
    notify_ctls:
      - webhook_type: webhook
        notify_type: [passed]
        webhook_notification_config: {address: "https://hooks.example.com/a", token: s3cr3t}
"""


def seed() -> dict:
    return json.loads(SEED_PATH.read_text(encoding="utf-8"))


def planned(data: dict, workflow: str = "demo-workflow-dev", config_text: str = CONFIG):
    config = loads(config_text)
    task = parse_task(data)
    return plan_event(config, config.workflow(workflow), task, now=1722404800).planned


def first_request(data: dict | None = None):
    return planned(data or seed())[0].requests[0]


def test_body_equals_the_seed_payload():
    expected = seed()
    body = first_request().body
    assert body["object_kind"] == expected["object_kind"] == "workflow"
    assert body["event"] == expected["event"] == "workflow"
    assert body["workflow"] == expected["workflow"]


def test_body_keeps_the_seed_key_order():
    expected = seed()["workflow"]
    sent = first_request().body["workflow"]
    assert json.dumps(sent, ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)


def test_body_top_level_key_order():
    assert list(first_request().body)[:3] == ["object_kind", "event", "workflow"]


def test_whole_seed_payload_is_accepted_as_well_as_its_workflow_object():
    assert first_request(seed()["workflow"]).body["workflow"] == seed()["workflow"]


def test_missing_names_are_filled_from_the_configured_workflow():
    data = seed()
    del data["workflow"]["workflow_display_name"]
    del data["workflow"]["project_name"]
    sent = first_request(data).body["workflow"]
    assert sent["workflow_display_name"] == "演示工作流"
    assert sent["project_name"] == "yaml"


def test_configured_project_display_name_is_added():
    text = CONFIG.replace("project: yaml\n", "project: yaml\n    project_display_name: 演示\n")
    sent = planned(seed(), config_text=text)[0].requests[0].body["workflow"]
    assert sent["project_display_name"] == "演示"
    assert {k: v for k, v in sent.items() if k != "project_display_name"} == seed()["workflow"]


def test_names_in_the_snapshot_win_over_the_configured_ones():
    sent = first_request().body["workflow"]
    assert sent["workflow_display_name"] == "demo-workflow-dev"


def test_missing_detail_url_is_the_workflow_page():
    data = seed()
    del data["workflow"]["detail_url"]
    sent = first_request(data).body["workflow"]
    assert sent["detail_url"] == (
        "https://course.koderover.com/v1/projects/detail/yaml/pipelines/custom/"
        "demo-workflow-dev?display_name=demo-workflow-dev"
    )


def test_unknown_snapshot_fields_are_passed_through():
    data = seed()
    data["workflow"]["release_plan"] = {"id": "rp1", "name": "May", "index": 3}
    sent = first_request(data).body["workflow"]
    assert sent["release_plan"] == {"id": "rp1", "name": "May", "index": 3}


# --- headers -------------------------------------------------------------------------------


def test_zadig_headers():
    headers = first_request().headers
    assert headers["X-Zadig-Event"] == "workflow"
    assert headers["X-Zadig-Instance"] == INSTANCE
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("Zadig/")


def test_webhook_uuid_is_a_uuid_stable_for_the_same_ctl():
    one = first_request().headers["X-Zadig-Webhook-UUID"]
    two = first_request().headers["X-Zadig-Webhook-UUID"]
    assert one == two
    assert str(uuid.UUID(one)) == one


def test_webhook_uuid_names_the_webhook_not_the_ctl():
    """One receiver URL is one webhook, whichever workflow names it; two URLs are two."""
    a, b = planned(seed())
    other = planned(seed(), "other-workflow")[0]  # the same URL as `a`
    uuid_of = [item.requests[0].headers["X-Zadig-Webhook-UUID"] for item in (a, b, other)]
    assert uuid_of[0] != uuid_of[1]
    assert uuid_of[0] == uuid_of[2]


def test_event_id_header_name():
    assert first_request().event_id_header == "X-Zadig-Event-UUID"


def test_prepared_call_carries_delivery_id_and_token():
    item = planned(seed())[0]
    call = prepare(item.requests[0], item.destination, "delivery-1", now=1722404800.0)
    assert call.url == "https://hooks.example.com/a"
    assert call.headers["X-Zadig-Event-UUID"] == "delivery-1"
    assert call.headers["X-Zadig-Token"] == "s3cr3t"
    assert call.headers["X-Zadig-Event"] == "workflow"
    assert json.loads(call.body)["workflow"] == seed()["workflow"]


def test_event_id_is_the_delivery_id_across_retries():
    item = planned(seed())[0]
    first = prepare(item.requests[0], item.destination, "delivery-7", now=1.0)
    retry = prepare(item.requests[0], item.destination, "delivery-7", now=100.0)
    assert first.headers["X-Zadig-Event-UUID"] == retry.headers["X-Zadig-Event-UUID"]


def test_no_token_header_without_a_configured_token():
    item = planned(seed())[1]
    call = prepare(item.requests[0], item.destination, "delivery-2", now=1722404800.0)
    assert call.headers["X-Zadig-Event-UUID"] == "delivery-2"
    assert "X-Zadig-Token" not in call.headers


def test_token_is_not_in_the_stored_request():
    request = first_request()
    assert "X-Zadig-Token" not in request.headers
    assert "s3cr3t" not in json.dumps(request.body)


def test_prepare_with_explicit_destination_token():
    request = first_request()
    with_token = prepare(request, Destination("k", "https://h.example.com", token="t"), "d", 0.0)
    without = prepare(request, Destination("k", "https://h.example.com"), "d", 0.0)
    assert with_token.headers["X-Zadig-Token"] == "t"
    assert "X-Zadig-Token" not in without.headers


def test_recorded_deliveries_get_fresh_ids_used_as_event_uuid(tmp_path):
    from tidings.delivery.outbox import NewEvent
    from tidings.sending.record import record
    from tidings.store.db import Store

    config = loads(CONFIG)
    plan = plan_event(config, config.workflows[0], parse_task(seed()), now=1722404800)
    store = Store(f"sqlite:///{tmp_path}/t.db").open()
    enqueued = record(store, plan, NewEvent("task"), now=1722404800.0, expires_in=60)
    ids = enqueued.delivery_ids
    assert len(set(ids)) == len(ids) == 2
    destinations = plan.destinations()
    for delivery_id, request in zip(ids, plan.requests(), strict=True):
        call = prepare(request, destinations[request.destination], delivery_id, now=1722404800.0)
        assert call.headers["X-Zadig-Event-UUID"] == delivery_id
