"""The README followed literally: its sandbox walk-through with examples/, its notify example,
`tidings serve` on the example configuration (#19)."""

from __future__ import annotations

import http.client
import json
import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from api_helpers import serve_process
from tidings.sandbox import SandboxThread

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text("utf-8")


def _walkthrough() -> list[list[str]]:
    """The commands of the README's sandbox walk-through, as a shell would split them."""
    block = README.split("Try it without any real robot", 1)[1].split("```sh", 1)[1]
    block = block.split("```", 1)[0].replace("\\\n", " ")
    commands = [shlex.split(line, comments=True) for line in block.splitlines()]
    return [c for c in commands if c]


def _exports(commands: list[list[str]]) -> dict[str, str]:
    (export,) = [c for c in commands if c[0] == "export"]
    return dict(word.split("=", 1) for word in export[1:])


@pytest.fixture
def demo_sandbox():
    with SandboxThread() as sb:
        sb.add_demo_destinations()
        yield sb


def _example_config(tmp_path: Path, sandbox: SandboxThread) -> Path:
    """examples/tidings.yaml with the sandbox's ports instead of 8900 and 8925 (the test's
    sandbox listens on free ports, so that tests can run side by side)."""
    text = (ROOT / "examples" / "tidings.yaml").read_text("utf-8")
    host_port = sandbox.url.removeprefix("http://")
    assert sandbox.smtp is not None
    text = text.replace("127.0.0.1:8900", host_port).replace(
        "port: 8925", f"port: {sandbox.smtp.port}"
    )
    path = tmp_path / "tidings.yaml"
    path.write_text(text, "utf-8")
    return path


def test_the_readme_walkthrough_sends_both_examples_and_serves(tmp_path, demo_sandbox, cli):
    commands = _walkthrough()
    env = _exports(commands)
    config = _example_config(tmp_path, demo_sandbox)
    sends = [c for c in commands if c[:2] == ["tidings", "send"]]
    assert [c[-1] for c in sends] == ["examples/task-failed.json", "examples/task-passed.json"]
    ids = {json.loads((ROOT / c[-1]).read_text("utf-8"))["task_id"] for c in sends}
    assert len(ids) == 2  # two tasks, not one task that both passed and failed
    for command in sends:
        task = str(ROOT / command[-1])
        result = cli("send", "-c", str(config), "-t", task, env=env)
        assert result.code == 0, result.output
        assert "FAILED" not in result.stdout and "DEAD" not in result.stdout
    rejected = [r for r in demo_sandbox.received() if not r.accepted]
    assert rejected == []

    (notify,) = [c for c in commands if c[:2] == ["tidings", "notify"]]
    sandbox_url = demo_sandbox.url
    args = [a.replace("http://127.0.0.1:8900", sandbox_url) for a in notify[1:]]
    before = len(demo_sandbox.accepted("dingtalk"))
    sent = cli(*args, env=env)
    assert sent.code == 0, sent.output
    assert len(demo_sandbox.accepted("dingtalk")) == before + 1

    (serve,) = [c for c in commands if c[:2] == ["tidings", "serve"]]
    assert serve[2:4] == ["-c", "examples/tidings.yaml"]
    server, port = _serve(tmp_path, config, env)
    try:
        answer = _get_when_up(port, "/api/v1/deliveries", env["TIDINGS_API_TOKEN"])
        assert answer[0] == 200, answer
        # The history of the sends above: the same database (TIDINGS_HOME).
        assert len(json.loads(answer[1])) >= len(sends)
        assert _get_when_up(port, "/api/v1/deliveries", "wrong-token-0123456789")[0] == 401
    finally:
        server.terminate()
        _out, err = server.communicate(timeout=20)
    assert server.returncode == 0, err
    assert "no system.api_tokens" not in err
    assert env["TIDINGS_API_TOKEN"] not in err


def test_the_example_api_token_is_long_enough_and_documented():
    text = (ROOT / "examples" / "tidings.yaml").read_text("utf-8")
    assert '"${TIDINGS_API_TOKEN}"' in text
    token = _exports(_walkthrough())["TIDINGS_API_TOKEN"]
    assert len(token) >= 16


def _get_when_up(port: int, path: str, token: str, timeout: float = 20) -> tuple[int, bytes]:
    end = time.monotonic() + timeout
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            response = connection.getresponse()
            return response.status, response.read()
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)
        finally:
            connection.close()


def test_after_make_install_the_readme_puts_tidings_on_path():
    (line,) = [x for x in README.splitlines() if x.startswith("make install && ")]
    setup = line.split("#", 1)[0].removeprefix("make install && ").strip()
    if not (ROOT / ".venv" / "bin" / "activate").exists():
        pytest.skip("no .venv in this checkout: `make install` was not run here")
    done = subprocess.run(
        ["bash", "-c", f"{setup} && tidings --version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("tidings, version")


def _serve(tmp_path: Path, config: Path, env: dict[str, str], *args: str):
    return serve_process(config, tmp_path / "home", *args, env=env, cwd=tmp_path)


def test_serve_logs_every_line_in_its_format(tmp_path, sandbox):
    hook = sandbox.webhook_inbox("logged")
    token = "log-test-token-0123456789"
    config = tmp_path / "tidings.yaml"
    config.write_text(
        f"""
system:
  api_tokens: [{{name: ci, token: "${{API_TOKEN}}", scopes: [admin]}}]
workflows:
  - name: w
    notify_ctls:
      - {{webhook_type: webhook, notify_type: [passed],
          webhook_notification_config: {{address: "{hook}", token: "hook-token-secret-42"}}}}
""",
        "utf-8",
    )
    server, port = _serve(tmp_path, config, {"API_TOKEN": token}, "--log-format", "json")
    try:
        assert _get_when_up(port, "/api/v1/workflows?note=query-secret-4567", token)[0] == 200
        # A token in a query string is refused (#20.4), whatever the header says.
        assert _get_when_up(port, "/api/v1/workflows?token=query-secret-0123", token)[0] == 401
        task = json.dumps({"workflow_name": "w", "task_id": 1, "status": "passed"}).encode()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request(
            "POST",
            "/api/v1/events",
            body=task,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert connection.getresponse().status == 202
        connection.close()
        end = time.monotonic() + 15
        while not sandbox.accepted("webhook") and time.monotonic() < end:
            time.sleep(0.05)
        time.sleep(0.3)  # the delivery's line follows its answer
    finally:
        server.terminate()
        _out, err = server.communicate(timeout=20)
    assert server.returncode == 0, err
    lines = [json.loads(text) for text in err.splitlines()]  # every line is JSON
    assert lines[0]["logger"] == "tidings.serve" and "tidings serve on" in lines[0]["msg"]
    requests = [x for x in lines if x.get("event") == "request"]
    assert {(x["method"], x["path"], x["status"]) for x in requests} >= {
        ("GET", "/api/v1/workflows", 200),
        ("POST", "/api/v1/events", 202),
    }
    (delivery,) = [x for x in lines if x.get("event") == "delivery"]
    assert (delivery["status"], delivery["channel"], delivery["source"]) == (
        "sent",
        "webhook",
        "w/notify_ctls[0]",
    )
    assert token not in err and "hook-token-secret-42" not in err
    assert "query-secret" not in err  # query strings are never logged
