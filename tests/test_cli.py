"""The CLI as a user meets it: exit codes, errors without tracebacks, notify, and no secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from helpers import DT_SECRET, FS_SECRET, WEBHOOK_TOKEN, make_config, seed_task, write_json

SECRETS = (
    DT_SECRET,
    FS_SECRET,
    WEBHOOK_TOKEN,
    "dt-token-abcdef123456",
    "wecom-key-abcdef123456",
    "fs-token-abcdef123456",
)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"secret {secret[:4]}… leaked"


def test_no_secret_in_any_output(tmp_path, sandbox, cli):
    config = make_config(tmp_path, sandbox)
    task = write_json(tmp_path / "task.json", seed_task())
    runs = [
        cli("check", "-c", config),
        cli("check", "-c", config, "--json"),
        cli("preview", "-c", config, "-t", task),
        cli("preview", "-c", config, "-t", task, "--json"),
        cli("send", "-c", config, "-t", task),
        cli("send", "-c", config, "-t", task, "--json"),
    ]
    ding = sandbox.dingtalk_robot("dt-token-abcdef123456", secret=DT_SECRET)
    notify = (
        "notify",
        "--type",
        "dingding",
        "--hook-address",
        ding,
        "--secret",
        DT_SECRET,
        "--title",
        "工作流 发布",
        "--content",
        "done",
    )
    runs += [cli(*notify), cli(*notify, "--json"), cli(*notify, "--dry-run")]
    runs.append(
        cli(
            "notify",
            "--type",
            "webhook",
            "--hook-address",
            sandbox.webhook_inbox("n") + "?token=" + WEBHOOK_TOKEN,
            "--token",
            WEBHOOK_TOKEN,
            "--content",
            "x",
            "--dry-run",
        )
    )
    for run in runs:
        assert run.code == 0, run.output
        assert_no_secret(run.output)
    # The preview still shows where it goes and that it is signed.
    preview = runs[2].stdout
    assert "access_token=***" in preview and "sign=***" in preview
    assert "X-Zadig-Token: ***" in preview


def test_secrets_from_environment_are_redacted_in_errors(tmp_path, cli):
    config = tmp_path / "c.yaml"
    config.write_text(
        "workflows:\n  - name: w\n    notify_ctls:\n"
        "      - webhook_type: dingding\n        notify_type: [passed]\n"
        "        dingding_notification_config:\n"
        "          hook_address: https://oapi.dingtalk.com/robot/send?access_token=${TOKEN}\n"
        "          secret: ${SECRET}\n          bogus: 1\n",
        "utf-8",
    )
    result = cli(
        "check", "-c", str(config), env={"TOKEN": "tok-very-secret-1", "SECRET": "s3cr3t-xyz"}
    )
    assert result.code == 2
    assert "workflows[0].notify_ctls[0].dingding_notification_config.bogus: unknown field" in (
        result.stderr
    )
    assert "tok-very-secret-1" not in result.output and "s3cr3t-xyz" not in result.output


def test_check_json_answers_an_invalid_config_on_stdout(tmp_path, cli):
    config = tmp_path / "c.yaml"
    config.write_text(
        "workflows:\n  - name: w\n    notify_ctls:\n"
        "      - webhook_type: dingding\n        notify_type: [passed]\n"
        "        dingding_notification_config:\n"
        "          hook_address: https://oapi.dingtalk.com/robot/send?access_token=${TOKEN}\n"
        "          hook_adress: x\n",
        "utf-8",
    )
    result = cli("check", "-c", str(config), "--json", env={"TOKEN": "tok-very-secret-1"})
    assert result.code == 2
    assert result.stderr == ""  # a machine reads one JSON document, as from /workflows/validate
    assert result.json() == {
        "config": str(config),
        "valid": False,
        "error": f"{config}: invalid configuration",
        "problems": [
            {
                "path": "workflows[0].notify_ctls[0].dingding_notification_config.hook_adress",
                "message": "unknown field; did you mean hook_address? (line 8)",
            }
        ],
    }
    missing = cli("check", "-c", "nowhere.yaml", "--json")
    assert missing.code == 2
    assert missing.json()["valid"] is False
    assert "nowhere.yaml not found" in missing.json()["error"]


def test_bad_configurations_exit_2_with_path_and_no_traceback(tmp_path, cli):
    cases = {
        "missing.yaml": None,
        "syntax.yaml": "workflows:\n  - name: [unclosed\n",
        "path.yaml": textwrap.dedent(
            """\
            workflows:
              - name: w
                notify_ctls:
                  - webhook_type: dingding
                    notify_type: [passed]
                    dingding_notification_config: {at_mobiles: ["1"]}
            """
        ),
        "env.yaml": "system: {address: '${NOT_SET_ANYWHERE}'}\n",
        "scalar.yaml": "just a string\n",
    }
    expected = {
        "missing.yaml": "not found",
        "syntax.yaml": "line 2",
        "path.yaml": "workflows[0].notify_ctls[0].dingding_notification_config.hook_address: "
        "field required",
        "env.yaml": "NOT_SET_ANYWHERE is not set",
        "scalar.yaml": "must be a mapping",
    }
    for name, text in cases.items():
        if text is not None:
            (tmp_path / name).write_text(text, "utf-8")
        result = cli("check", "-c", str(tmp_path / name))
        assert result.code == 2, (name, result.output)
        assert expected[name] in result.stderr, (name, result.stderr)
        assert "Traceback" not in result.output


def test_config_from_environment_then_default_file(tmp_path, cli):
    (tmp_path / "tidings.yaml").write_text("workflows: []\n", "utf-8")
    assert "tidings.yaml: OK" in cli("check").stdout
    other = tmp_path / "other.yaml"
    other.write_text("workflows: []\n", "utf-8")
    assert "other.yaml: OK" in cli("check", env={"TIDINGS_CONFIG": str(other)}).stdout


def test_bad_task_snapshot_exit_2(tmp_path, cli):
    (tmp_path / "tidings.yaml").write_text("workflows: [{name: w}]\n", "utf-8")
    not_json = tmp_path / "t1.json"
    not_json.write_text("{oops", "utf-8")
    missing = write_json(tmp_path / "t2.json", {"workflow_name": "w", "status": "passed"})
    unknown = write_json(tmp_path / "t3.json", {**seed_task(), "workflow_name": "nope"})
    bad_status = {**seed_task(), "workflow_name": "w", "status": "exploded"}
    results = [
        cli("send", "-t", str(not_json)),
        cli("send", "-t", missing),
        cli("send", "-t", unknown),
        cli(
            "send", "-t", write_json(tmp_path / "t4.json", seed_task()), "-w", "w", "--status", "x"
        ),
        cli("send", "-t", write_json(tmp_path / "t5.json", {"workflow": bad_status}), "-w", "w"),
        cli("run", "nope"),
    ]
    assert [r.code for r in results] == [2] * 6
    assert "not valid JSON" in results[0].stderr
    assert "task_id: field required" in results[1].stderr
    # The name came from the snapshot: -w picks another.
    assert "workflow 'nope' is not in" in results[2].stderr and "pass -w NAME" in results[2].stderr
    assert "--status: unknown status 'x'" in results[3].stderr
    # A bad status in the file is the file's field, not a flag the user did not give.
    assert "t5.json: invalid task snapshot" in results[4].stderr
    assert "workflow.status: unknown status 'exploded'" in results[4].stderr
    assert "--status" not in results[4].stderr
    # `run` has no -w: its message does not suggest one.
    assert "workflow 'nope' is not in" in results[5].stderr and "-w" not in results[5].stderr
    assert not any("Traceback" in r.output for r in results)


def test_task_from_stdin_and_whole_webhook_payload(tmp_path, sandbox, cli):
    config = make_config(tmp_path, sandbox)
    payload = {"object_kind": "workflow", "event": "workflow", "workflow": seed_task()}
    result = cli(
        "preview", "-c", config, "-t", "-", "--json", stdin=__import__("json").dumps(payload)
    )
    assert result.code == 0, result.output
    assert len(result.json()["requests"]) == 6


def test_notify_from_flags_signed_with_mentions(sandbox, cli):
    url = sandbox.dingtalk_robot("notify-token-0001", secret=DT_SECRET, keywords=("发布",))
    result = cli(
        "notify",
        "--type",
        "dingding",
        "--hook-address",
        url,
        "--secret",
        DT_SECRET,
        "--at",
        "13800000009",
        "--title",
        "发布完成",
        "--content",
        "release #12 is live",
    )
    assert result.code == 0, result.output
    (received,) = sandbox.accepted("dingtalk")
    assert received.mentions == ["13800000009"]
    assert "发布完成" in received.text and "release #12 is live" in received.text


def test_notify_from_a_zadig_notification_job_spec(tmp_path, sandbox, cli):
    url = sandbox.feishu_bot("notify-fs-0001", keywords=("测试",))
    spec = tmp_path / "job.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""\
            name: notify-qa
            type: notification
            spec:
              webhook_type: feishu
              lark_hook_notification_config:
                hook_address: {url}
                at_users: [ou_qa]
              title: 请测试同学确认
              content: "**版本** v1.2 已部署到 dev，请开始测试"
            """
        ),
        "utf-8",
    )
    result = cli("notify", "--spec", str(spec))
    assert result.code == 0, result.output
    card, mention = sandbox.accepted("feishu")
    assert card.body["card"]["header"]["template"] == "blue"
    assert "请开始测试" in card.text
    assert mention.mentions == ["ou_qa"]


def test_notify_bad_input_names_the_flag(cli):
    no_address = cli("notify", "--type", "wechat", "--content", "x")
    assert no_address.code == 2 and "--hook-address" in no_address.stderr
    bad_url = cli("notify", "--type", "wechat", "--hook-address", "nope", "--content", "x")
    assert bad_url.code == 2 and "http" in bad_url.stderr
    no_type = cli("notify", "--content", "x")
    assert no_type.code == 2 and "--type" in no_type.stderr
    nothing = cli("notify", "--type", "webhook", "--hook-address", "http://127.0.0.1:9/x")
    assert nothing.code == 2 and "nothing to send" in nothing.stderr


def test_notify_failure_exit_1_with_platform_code(sandbox, cli):
    url = sandbox.dingtalk_robot("notify-kw-0001", keywords=("工作流",))
    result = cli(
        "notify",
        "--type",
        "dingding",
        "--hook-address",
        url,
        "--title",
        "hello",
        "--content",
        "no keyword here",
    )
    assert result.code == 1
    assert "310000" in result.stdout and "keywords not in content" in result.stdout


def test_help_imports_nothing_heavy():
    """Start-up is a feature: `tidings --help` must not import the HTTP, model or YAML stacks."""
    code = (
        "import sys; from tidings.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = {'aiohttp', 'pydantic', 'yaml', 'rich', 'tidings.config', 'tidings.channels'}\n"
        "print(sorted(m for m in sys.modules if m in heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_notify_spec_errors_name_the_field_and_its_line(tmp_path, cli):
    spec = tmp_path / "job.yaml"
    spec.write_text(
        "webhook_type: dingding\n"
        "dingding_notification_config:\n"
        "  hook_address: https://oapi.dingtalk.com/robot/send?access_token=abc\n"
        "  at_mobilez: ['13800000000']\n"
        "title: t\n",
        "utf-8",
    )
    result = cli("notify", "--spec", str(spec))
    assert result.code == 2, result.output
    assert "dingding_notification_config.at_mobilez: " in result.stderr
    assert "(line 4)" in result.stderr and "Traceback" not in result.stderr


def _notify_imports(tmp_path, flags: list[str], unwanted: set[str]) -> dict:
    """Which of `unwanted` each of two `tidings notify` runs imported (the first creates the
    database)."""
    code = (
        "import json, sys\nfrom tidings.cli import main\n"
        "try:\n    main(sys.argv[2:])\nexcept SystemExit as done:\n    assert not done.code\n"
        "unwanted = set(json.loads(sys.argv[1]))\n"
        "print(json.dumps({'imported': sorted(m for m in sys.modules if m in unwanted),\n"
        "    'ctl_models': 'tidings.config.notify_ctl' in sys.modules}))"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    environ["TIDINGS_HOME"] = str(tmp_path / "home")
    argv = [sys.executable, "-c", code, json.dumps(sorted(unwanted)), "notify", *flags]
    reports = []
    for _ in range(2):
        done = subprocess.run(argv, capture_output=True, text=True, env=environ)
        assert done.returncode == 0, done.stderr
        reports.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert reports[0] == reports[1]
    return reports[1]


# What one ad-hoc notification never needs (start-up time is a feature).
NOT_FOR_NOTIFY = {
    "pydantic",
    "tidings.model",
    "tidings.config.models",
    "tidings.config.workflows",
    "tidings.config.loading",
    "sqlalchemy",
    "aiohttp",
}


def test_notify_builds_only_the_notify_ctl_models(tmp_path, sandbox):
    """One notify_ctl is all `tidings notify` validates: no YAML, no pydantic, no
    configuration, task snapshot or runner job models, no SQLAlchemy."""
    flags = ["--type", "webhook", "--title", "工作流 t", "--content", "passed"]
    flags += ["--hook-address", f"{sandbox.url}/webhook/imports"]
    report = _notify_imports(tmp_path, flags, NOT_FOR_NOTIFY | {"yaml", "tidings.yamlsrc"})
    assert report == {"imported": [], "ctl_models": True}


def test_notify_spec_reads_yaml_but_not_the_configuration_stack(tmp_path, sandbox):
    spec = tmp_path / "notify-qa.yaml"
    spec.write_text(
        "webhook_type: webhook\n"
        "webhook_notification_config:\n"
        f"  address: {sandbox.url}/webhook/spec-imports\n"
        "title: 工作流 t\ncontent: passed\n",
        "utf-8",
    )
    report = _notify_imports(tmp_path, ["--spec", str(spec)], NOT_FOR_NOTIFY)
    assert report == {"imported": [], "ctl_models": True}


def test_tables_keep_columns_aligned_with_wide_characters(tmp_path, sandbox, cli):
    from rich.cells import cell_len

    hook = sandbox.webhook_inbox("tables")
    workflows = ["发布流水线-生产环境", "w", "a-rather-long-workflow-name-for-nightly-builds"]
    config = tmp_path / "tidings.yaml"
    config.write_text(
        "workflows:\n"
        + "".join(
            f"  - name: {name}\n    notify_ctls:\n"
            f"      - {{webhook_type: webhook, notify_type: [passed], "
            f"webhook_notification_config: {{address: '{hook}'}}}}\n"
            for name in workflows
        ),
        "utf-8",
    )
    for index, name in enumerate(workflows):
        task = {**seed_task(), "workflow_name": name, "task_id": 10 + index, "status": "passed"}
        task["task_creator"] = "张三" if index == 0 else "bob"
        sent = cli("send", "-t", write_json(tmp_path / f"t{index}.json", task))
        assert sent.code == 0, sent.output

    def starts(line: str, word: str) -> int:
        """The terminal column where `word` begins in `line`."""
        return cell_len(line[: line.index(word)])

    deliveries = cli("deliveries").stdout.splitlines()
    assert len(deliveries) == 3
    # After a wide or long workflow name, the next columns start where they do on every line.
    assert len({starts(line, "http://") for line in deliveries}) == 1, deliveries
    tasks = cli("tasks").stdout.splitlines()
    assert len(tasks) == 3
    assert len({starts(line, "passed") for line in tasks}) == 1, tasks
    assert len({starts(line, " jobs") for line in tasks}) == 1, tasks
