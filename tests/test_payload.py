"""The generic webhook: Zadig's body field for field with the seed, and the X-Zadig-* headers."""

import json
import uuid
from pathlib import Path

from helpers import as_zadig_sends
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


# webhooknotify/types.go: WorkflowNotify, WorkflowNotifyStage, WorkflowNotifyJobTask, in order.
GO_WORKFLOW_KEYS = [
    "task_id", "project_name", "project_display_name", "workflow_name", "workflow_display_name",
    "status", "remark", "detail_url", "error", "create_time", "start_time", "end_time", "stages",
    "task_creator", "task_creator_id", "task_creator_phone", "task_creator_email", "task_type",
]  # fmt: skip
GO_STAGE_KEYS = ["name", "status", "start_time", "end_time", "jobs", "error"]
GO_JOB_KEYS = ["name", "display_name", "type", "status", "start_time", "end_time", "error", "spec"]


def test_body_is_the_seed_payload_with_every_key_zadig_writes():
    expected = seed()
    body = first_request().body
    assert body["object_kind"] == expected["object_kind"] == "workflow"
    assert body["event"] == expected["event"] == "workflow"
    assert body["workflow"] == as_zadig_sends(expected["workflow"])
    assert body["release_plan"] is None  # WebHookNotify.ReleasePlan: null for a workflow


def test_body_keys_are_in_gos_order():
    sent = first_request().body["workflow"]
    assert list(sent) == GO_WORKFLOW_KEYS
    assert all(list(stage) == GO_STAGE_KEYS for stage in sent["stages"])
    assert all(list(job) == GO_JOB_KEYS for stage in sent["stages"] for job in stage["jobs"])


def test_body_top_level_key_order():
    assert list(first_request().body) == ["object_kind", "event", "workflow", "release_plan"]


def test_whole_seed_payload_is_accepted_as_well_as_its_workflow_object():
    body = first_request(seed()["workflow"]).body["workflow"]
    assert body == as_zadig_sends(seed()["workflow"])


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
    assert sent == {**as_zadig_sends(seed()["workflow"]), "project_display_name": "演示"}


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
    assert json.loads(call.body)["workflow"] == as_zadig_sends(seed()["workflow"])


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


# --- every key, whatever the snapshot left out --------------------------------------------


def test_a_minimal_snapshot_sends_every_key_with_gos_zero_values():
    """WorkflowNotify and its stages and jobs as Go writes structs without omitempty: "" for
    strings, 0 for numbers, null for a nil slice or interface; the build and deploy specs
    in their shapes (WorkflowNotifyJobTaskBuildSpec, ...DeploySpec)."""
    data = {
        "task_id": 3,
        "workflow_name": "demo-workflow-dev",
        "status": "passed",
        "stages": [
            {
                "name": "s",
                "jobs": [
                    {"name": "b", "type": "zadig-build"},
                    {"name": "d", "type": "zadig-deploy", "display_name": "部署"},
                    {"name": "f", "type": "freestyle", "spec": {"repositories": [{}]}},
                    {"name": "t", "type": "zadig-test"},
                ],
            },
            {"name": "empty"},
        ],
    }
    sent = first_request(data).body["workflow"]
    assert list(sent) == GO_WORKFLOW_KEYS
    assert {k: v for k, v in sent.items() if k != "stages"} == {
        "task_id": 3,
        "project_name": "yaml",
        "project_display_name": "yaml",
        "workflow_name": "demo-workflow-dev",
        "workflow_display_name": "演示工作流",
        "status": "passed",
        "remark": "",
        "detail_url": (
            "https://course.koderover.com/v1/projects/detail/yaml/pipelines/custom/"
            "demo-workflow-dev?display_name=%E6%BC%94%E7%A4%BA%E5%B7%A5%E4%BD%9C%E6%B5%81"
        ),
        "error": "",
        "create_time": 0,
        "start_time": 0,
        "end_time": 0,
        "task_creator": "",
        "task_creator_id": "",
        "task_creator_phone": "",
        "task_creator_email": "",
        "task_type": "workflow",
    }
    stage, empty = sent["stages"]
    assert empty == {
        "name": "empty", "status": "", "start_time": 0, "end_time": 0, "jobs": None, "error": "",
    }  # fmt: skip
    build, deploy, freestyle, test = stage["jobs"]
    zero_job = {"status": "", "start_time": 0, "end_time": 0, "error": ""}
    assert build == {
        "name": "b", "display_name": "b", "type": "zadig-build", **zero_job,
        "spec": {"repositories": None, "image": ""},
    }  # fmt: skip
    assert deploy["display_name"] == "部署"
    assert deploy["spec"] == {"env": "", "service_name": "", "service_modules": []}
    assert freestyle["spec"]["repositories"] == [
        {
            "source": "", "repo_owner": "", "repo_namespace": "", "repo_name": "", "branch": "",
            "prs": None, "tag": "", "author_name": "", "commit_id": "", "commit_url": "",
            "commit_message": "",
        }
    ]  # fmt: skip
    assert test["spec"] is None


def test_task_creator_phone_can_be_left_out_as_zadig_v5_does():
    """Zadig v5 stopped sending task_creator_phone (privacy); 3.x sent it, so does tidings
    unless the webhook's `task_creator_phone: false` says otherwise (an extension)."""
    text = CONFIG.replace("token: s3cr3t}", "token: s3cr3t, task_creator_phone: false}", 1)
    off, on = (item.requests[0].body["workflow"] for item in planned(seed(), config_text=text))
    assert "task_creator_phone" not in off
    assert on["task_creator_phone"] == "1340096xxxx"
