"""Times in the team's time zone: system.timezone, whatever zone the process runs in."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import seed_task
from tidings.config.loading import loads
from tidings.dispatch.plan import plan_event
from tidings.dispatch.task import parse_task
from tidings.errors import ConfigError

CONFIG = """
system: {{address: "https://zadig.example.com", timezone: "{zone}"}}
workflows:
  - name: demo-workflow-dev
    notify_ctls:
      - {{webhook_type: wechat, notify_type: [passed],
         wechat_notification_config: {{hook_address: "https://qyapi.weixin.qq.com/x?key=k"}}}}
"""


def start_line(zone: str) -> str:
    config = loads(CONFIG.format(zone=zone))
    plan = plan_event(config, config.workflows[0], parse_task(seed_task()))
    (request,) = plan.requests()
    text = request.body["markdown"]["content"]
    return next(line for line in text.splitlines() if "开始时间" in line)


@pytest.mark.parametrize(
    ("zone", "shown"), [("Asia/Shanghai", "2024-07-31 13:45:33"), ("UTC", "2024-07-31 05:45:33")]
)
def test_start_time_is_in_the_configured_zone(zone: str, shown: str) -> None:
    assert shown in start_line(zone)


def test_the_process_zone_does_not_matter_once_a_zone_is_configured(tmp_path) -> None:
    code = (
        "import sys; sys.path.insert(0, 'tests'); from test_timezone import start_line; "
        "print(start_line('Asia/Shanghai'))"
    )
    for process_zone in ("UTC", "America/New_York"):
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={**os.environ, "TZ": process_zone},
            cwd=os.path.dirname(os.path.dirname(__file__)),
        )
        assert "2024-07-31 13:45:33" in done.stdout, done.stderr


def test_an_unknown_zone_is_named() -> None:
    with pytest.raises(ConfigError) as caught:
        loads(CONFIG.format(zone="Mars/Olympus"))
    (problem,) = caught.value.problems
    assert problem.path == "system.timezone" and "IANA name" in problem.message


def test_history_and_tasks_show_times_in_the_configured_zone(tmp_path, sandbox, cli) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    hook = sandbox.webhook_inbox("zone")
    (tmp_path / "tidings.yaml").write_text(
        "system: {timezone: Asia/Shanghai}\nworkflows:\n  - name: demo-workflow-dev\n"
        "    notify_ctls:\n      - {webhook_type: webhook, notify_type: [passed], "
        f"webhook_notification_config: {{address: '{hook}'}}}}\n",
        "utf-8",
    )
    task = tmp_path / "task.json"
    task.write_text(__import__("json").dumps(seed_task()), "utf-8")
    assert cli("send", "-t", str(task), env={"TZ": "UTC"}).code == 0
    (row,) = cli("deliveries", "--json").json()
    shanghai = datetime.fromtimestamp(row["created_at"], ZoneInfo("Asia/Shanghai"))
    listed = cli("deliveries", env={"TZ": "UTC"}).stdout
    # The hour in Shanghai, not the process's UTC (8 hours apart: the minute alone could match).
    assert shanghai.strftime("%Y-%m-%d %H:%M") in listed
    shown = cli("deliveries", "show", row["id"], env={"TZ": "UTC"}).stdout
    assert f"created:     {shanghai.strftime('%Y-%m-%d %H:%M')}" in shown
    # The task's start (2024-07-31 05:45:33 UTC) in `tasks`, from the snapshot.
    assert "2024-07-31 13:45:33" in cli("tasks", env={"TZ": "UTC"}).stdout
