"""Signed outgoing webhooks (Standard Webhooks): what a receiver gets over real sockets verifies
with the specification's own library and with the few lines of docs/channels.md; a retry keeps
its webhook-id; the secret is never stored, shown or logged."""

from __future__ import annotations

import re
import textwrap
import time
from pathlib import Path

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from helpers import seed_task, write_json
from hooks_helpers import SIGNING_SECRET

DOCS = Path(__file__).parent.parent / "docs" / "channels.md"


def _config(tmp_path: Path, address: str, secret: str = SIGNING_SECRET) -> str:
    path = tmp_path / "tidings.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            workflows:
              - name: demo-workflow-dev
                notify_ctls:
                  - webhook_type: webhook
                    notify_type: [passed]
                    webhook_notification_config:
                      address: "{address}"
                      token: tok-123456
                      signing_secret: "{secret}"
            """
        ),
        "utf-8",
    )
    return str(path)


def _receiver() -> dict:
    """The receiver of docs/channels.md, run as written."""
    text = DOCS.read_text("utf-8")
    section = text[text.index("### Signed webhooks") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    scope: dict = {}
    exec(code.group(1), scope)
    return scope


def test_a_retried_webhook_is_signed_each_time_with_one_id(tmp_path, sandbox, cli):
    hook = sandbox.webhook_inbox("signed", [503, 200])  # the first attempt is retried
    task = write_json(tmp_path / "task.json", seed_task())
    result = cli("send", "-c", _config(tmp_path, hook), "-t", task)
    assert result.code == 0, result.output
    first, second = sandbox.received("webhook")
    assert (first.http_status, second.http_status) == (503, 200)
    for row in (first, second):
        headers = {k.lower(): v for k, v in row.headers.items()}
        body = row.extra["raw"].encode("utf-8")
        # The specification's reference library accepts it (and returns the payload).
        assert Webhook(SIGNING_SECRET).verify(body, headers)["workflow"]["task_id"] == 47
        assert headers["webhook-id"] == headers["x-zadig-event-uuid"]
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
        assert headers["webhook-signature"].startswith("v1,")
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    # Anything changed on the way no longer verifies.
    tampered = second.extra["raw"].replace('"task_id":47', '"task_id":48').encode()
    with pytest.raises(WebhookVerificationError):
        Webhook(SIGNING_SECRET).verify(tampered, dict(second.headers))
    # Nothing of the secret was stored or printed.
    shown = cli("deliveries", "show", second.headers["webhook-id"][-8:])
    assert shown.code == 0 and "webhook-signature" not in shown.stdout
    assert SIGNING_SECRET not in shown.stdout + result.output
    assert SIGNING_SECRET.removeprefix("whsec_") not in shown.stdout
    db = (tmp_path / "home" / "tidings.db").read_bytes()
    assert SIGNING_SECRET.removeprefix("whsec_").encode() not in db


def test_the_receiver_of_the_docs_verifies_and_refuses_replays(tmp_path, sandbox, cli):
    hook = sandbox.webhook_inbox("docs")
    task = write_json(tmp_path / "task.json", seed_task())
    assert cli("send", "-c", _config(tmp_path, hook), "-t", task).code == 0
    (row,) = sandbox.accepted("webhook")
    headers = {k.lower(): v for k, v in row.headers.items()}
    body = row.extra["raw"].encode("utf-8")
    receiver = _receiver()
    verify = receiver["verify"]
    assert verify(SIGNING_SECRET, headers, body + b" ") is False  # another body
    assert verify(SIGNING_SECRET, headers, body) is True
    assert verify(SIGNING_SECRET, headers, body) is False  # the same id again: a replay
    receiver["SEEN"].clear()
    old = {**headers, "webhook-timestamp": str(int(time.time()) - 3600)}
    assert verify(SIGNING_SECRET, old, body) is False  # outside the window
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
    assert verify(other, headers, body) is False


def test_preview_masks_the_signature_and_the_secret(tmp_path, cli):
    task = write_json(tmp_path / "task.json", seed_task())
    result = cli("preview", "-c", _config(tmp_path, "https://hooks.example.com/z"), "-t", task)
    assert result.code == 0, result.output
    assert "webhook-signature" in result.stdout and "v1," not in result.stdout
    assert SIGNING_SECRET not in result.stdout


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("plain-secret-0123456789abcdef", "must start with whsec_"),
        ("whsec_not base64!", "followed by base64"),
        ("whsec_c2hvcnQ=", "24 to 64 bytes"),
    ],
)
def test_a_signing_secret_that_is_not_one_is_refused(tmp_path, cli, secret, why):
    result = cli("check", "-c", _config(tmp_path, "https://hooks.example.com/z", secret))
    assert result.code == 2
    assert "webhook_notification_config.signing_secret" in result.output and why in result.output
    assert secret not in result.output
