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
