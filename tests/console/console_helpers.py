"""What the console's tests share: their configuration and its secrets (no page may show one)."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path
from typing import Any

from api_helpers import ADMIN, READER, RUNNER, SENDER

DT_SECRET = "SECconsole-dingtalk-5e1f0a9b"
FS_SECRET = "console-feishu-secret-77d1"
HOOK_TOKEN = "console-webhook-token-0c4d"
SMTP_PASSWORD = "console-smtp-password-9a8b"
DT_TOKEN = "console-dt-token-a1b2c3d4e5"
FS_TOKEN = "console-fs-token-f6e5d4c3b2"
# Every secret of the configuration: no page may show one.
SECRETS = [DT_SECRET, FS_SECRET, HOOK_TOKEN, SMTP_PASSWORD, DT_TOKEN, FS_TOKEN]
TOKENS = [ADMIN, READER, SENDER, RUNNER]


def console_config(tmp_path: Path, sandbox: Any) -> str:
    """Workflows for every scenario: `wf` waits for alice's approval; `slow` runs until the
    test creates its `go` file; `hooked` posts to an inbox that fails once (one attempt: dead).
    Every kind of platform fires on `failed`, for the previews."""
    ding = sandbox.dingtalk_robot(DT_TOKEN, secret=DT_SECRET, keywords=("工作流",))
    feishu = sandbox.feishu_bot(FS_TOKEN, secret=FS_SECRET, keywords=("工作流",))
    hook = sandbox.webhook_inbox("console")
    flaky = sandbox.webhook_inbox("flaky", script=[500])
    slow = sandbox.webhook_inbox("slow")
    teams = sandbox.msteams_webhook("console")
    go = tmp_path / "go"
    digest = hashlib.sha256(RUNNER.encode()).hexdigest()
    text = f"""
    system:
      address: https://zadig.example.com
      language: zh-cn
      timezone: Pacific/Kiritimati  # UTC+14: no machine's own zone, so pages must use it
      delivery: {{max_attempts: 1}}
      smtp: {{host: 127.0.0.1, port: 2525, security: none, username: tidings,
              password: "{SMTP_PASSWORD}", sender: "Zadig <noreply@example.com>"}}
      api_tokens:
        - {{name: ops, token: '{ADMIN}', scopes: [admin]}}
        - {{name: dashboard, token: '{READER}', scopes: [read]}}
        - {{name: ci, token: '{SENDER}', scopes: [send]}}
        - {{name: release-bot, token_sha256: '{digest}', scopes: [run, read]}}
    users:
      - {{id: alice, name: Alice, email: alice@example.com, phone: "13800000001"}}
      - {{id: bob, name: Bob, email: bob@example.com}}
    workflows:
      - name: wf
        display_name: 发布流水线
        project: shop
        notify_ctls:
          - webhook_type: webhook
            notify_type: [created, wait_for_approval, passed, failed]
            webhook_notification_config: {{address: "{hook}", token: "{HOOK_TOKEN}"}}
          - webhook_type: dingding
            notify_type: [failed, timeout]
            dingding_notification_config:
              hook_address: "{ding}"
              secret: "{DT_SECRET}"
              at_mobiles: ["13800000001"]
          - webhook_type: feishu
            notify_type: [failed]
            lark_hook_notification_config: {{hook_address: "{feishu}", secret: "{FS_SECRET}"}}
          - webhook_type: mail
            notify_type: [failed]
            mail_notification_config:
              target_users: [{{type: user, user_id: alice}}]
          - webhook_type: msteams
            notify_type: [failed]
            msteams_notification_config: {{hook_address: "{teams}"}}
        stages:
          - name: gate
            jobs:
              - {{name: gate, type: approval, timeout: 60, spec: {{users: [alice]}}}}
          - name: ship
            jobs:
              - {{name: ship, type: freestyle, spec: {{script: "echo shipped"}}}}
      - name: slow
        notify_ctls:
          - webhook_type: webhook
            notify_type: [created, passed]
            webhook_notification_config: {{address: "{slow}"}}
        stages:
          - name: work
            jobs:
              - name: wait
                type: freestyle
                timeout: 120
                spec: {{script: "while [ ! -f '{go}' ]; do sleep 0.1; done; echo done"}}
      - name: hooked
        notify_ctls:
          - webhook_type: webhook
            notify_type: [failed]
            webhook_notification_config: {{address: "{flaky}"}}
    """
    path = tmp_path / "tidings.yaml"
    path.write_text(textwrap.dedent(text), "utf-8")
    return str(path)
