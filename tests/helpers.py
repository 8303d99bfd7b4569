"""Helpers shared by the tests (a uniquely named module: `conftest` is taken by tests/sandbox)."""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path

DATA = Path(__file__).parent / "data"


def seed_task() -> dict:
    """The `workflow` object of the seed document's real webhook request."""
    return json.loads((DATA / "seed_payload.json").read_text("utf-8"))["workflow"]


def as_zadig_sends(workflow: dict) -> dict:
    """The seed's `workflow` object with the keys Zadig's WorkflowNotify always writes and
    the seed's copy (a v3.2 receiver's view) does not show: the project's display name, the
    task type, each job's display name, each repository's author."""
    out = copy.deepcopy(workflow)
    out.setdefault("project_display_name", out["project_name"])
    out.setdefault("task_type", "workflow")
    for stage in out["stages"]:
        for job in stage["jobs"]:
            job.setdefault("display_name", job["name"])
            for repo in (job["spec"] or {}).get("repositories") or []:
                repo.setdefault("author_name", "")
    return out


def write_json(path: Path, data: object) -> str:
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    return str(path)


DT_SECRET = "SECsandbox-dingtalk-0123456789"
FS_SECRET = "feishu-sandbox-secret-0987"
WEBHOOK_TOKEN = "webhook-token-5f2e9c1a"


def make_config(tmp_path: Path, sb, *, dt_secret: str = DT_SECRET, hook_script=()) -> str:
    """Every implemented channel, each robot registered in the sandbox like a real one."""
    ding = sb.dingtalk_robot("dt-token-abcdef123456", secret=DT_SECRET, keywords=("工作流",))
    wecom = sb.wecom_robot("wecom-key-abcdef123456")
    feishu = sb.feishu_bot("fs-token-abcdef123456", secret=FS_SECRET, keywords=("工作流",))
    hook = sb.webhook_inbox("receiver", script=hook_script)
    text = f"""
    system: {{address: "https://zadig.example.com", language: zh-cn}}
    workflows:
      - name: demo-workflow-dev
        project: yaml
        notify_ctls:
          - webhook_type: dingding
            notify_type: [passed, failed]
            dingding_notification_config:
              hook_address: "{ding}"
              secret: "{dt_secret}"
              at_mobiles: ["13800000001"]
          - webhook_type: wechat
            notify_type: [passed, failed]
            wechat_notification_config:
              hook_address: "{wecom}"
              at_users: [zhangsan]
              is_at_all: true
          - webhook_type: feishu
            notify_type: [passed, failed]
            lark_hook_notification_config:
              hook_address: "{feishu}"
              secret: "{FS_SECRET}"
              at_users: [ou_alice]
          - webhook_type: webhook
            notify_type: [created, passed, failed]
            webhook_notification_config: {{address: "{hook}", token: "{WEBHOOK_TOKEN}"}}
    """
    path = tmp_path / "tidings.yaml"
    path.write_text(textwrap.dedent(text), "utf-8")
    return str(path)


def webhook_config(addresses: list[str], workflow: str = "bulk", extra: str = "") -> str:
    """A configuration with one webhook ctl per address, all firing on `passed`."""
    ctls = "".join(
        f"      - {{webhook_type: webhook, notify_type: [passed], "
        f"webhook_notification_config: {{address: '{address}'}}}}\n"
        for address in addresses
    )
    head = f"system:\n  delivery: {{{extra}}}\nworkflows:\n  - name: {workflow}\n"
    return f"{head}    notify_ctls:\n{ctls}"


def enqueue_tasks(store, config, count: int, workflow: str = "bulk") -> list[str]:
    """Record `count` passed tasks of the workflow, as `send --no-wait` would; their ids."""
    import time

    from tidings.delivery.outbox import NewEvent
    from tidings.dispatch.plan import plan_event
    from tidings.dispatch.task import parse_task
    from tidings.sending.record import record

    ids: list[str] = []
    base = seed_task()
    for task_id in range(1, count + 1):
        task = parse_task({**base, "workflow_name": workflow, "task_id": task_id})
        plan = plan_event(config, config.workflow(workflow), task)
        event = NewEvent("task", workflow, task_id, "passed")
        ids += record(store, plan, event, now=time.time(), expires_in=3600).delivery_ids
    return ids


def first_arrivals(received) -> dict[str, list[int]]:
    """Per destination (inbox), the task ids in the order they first arrived."""
    seen: set[str] = set()
    order: dict[str, list[int]] = {}
    for r in received:
        if not r.accepted:
            continue
        uid = r.headers["X-Zadig-Event-UUID"]
        if uid in seen:
            continue
        seen.add(uid)
        order.setdefault(r.destination, []).append(r.body["workflow"]["task_id"])
    return order


COMMIT = "622cc1fdfaa87cd72d33c227a1895b860c0e7bd3"
COMMIT_URL = "https://github.com/acme/shop/commit/622cc1fd"


def build_job(
    name: str = "build-shop",
    commit_message: str = "Fix checkout",
    image: str = "reg.example.com/acme/shop:1.2",
) -> dict:
    """A passed zadig-build job of the acme/shop repository, as a snapshot holds it."""
    return {
        "name": name,
        "type": "zadig-build",
        "status": "passed",
        "spec": {
            "repositories": [
                {
                    "source": "github",
                    "repo_owner": "acme",
                    "repo_name": "shop",
                    "branch": "main",
                    "commit_id": COMMIT,
                    "commit_url": COMMIT_URL,
                    "commit_message": commit_message,
                }
            ],
            "image": image,
        },
    }


def wait_until(predicate, timeout: float) -> None:
    """Poll `predicate` until it is true; fail the test after `timeout` seconds."""
    import time

    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting")
        time.sleep(0.01)
