"""Platform signatures, computed at send time (they expire after an hour, specs/platforms.md)."""

from __future__ import annotations

import base64
import hashlib
import hmac


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk 加签: base64(HMAC-SHA256(key=secret, msg=f"{ts_ms}\\n{secret}")), unencoded."""
    message = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu bot: base64(HMAC-SHA256(key=f"{ts_s}\\n{secret}", msg=b"")); the key is the string."""
    key = f"{timestamp_s}\n{secret}".encode()
    digest = hmac.new(key, b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def standard_webhooks(secret: str, msg_id: str, timestamp_s: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one request: `webhook-signature` is `v1,` and the
    base64 HMAC-SHA256, keyed with the secret's bytes, of `{id}.{timestamp}.{body}`. Signed by
    the specification's own library (`standardwebhooks`, loaded only when a webhook is
    signed); the secret was checked when the configuration was read."""
    from datetime import UTC, datetime

    from standardwebhooks import Webhook

    when = datetime.fromtimestamp(timestamp_s, UTC)
    signature = Webhook(secret).sign(msg_id, when, body.decode("utf-8"))
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": signature,
    }
