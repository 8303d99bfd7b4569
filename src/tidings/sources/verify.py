"""Is a webhook from who it says it is? GitHub signs the raw body (X-Hub-Signature-256: the
HMAC-SHA256 of the body keyed with the webhook's secret); GitLab sends the secret itself
(X-Gitlab-Token). Both are compared in constant time, before the body is even parsed.

Each check answers None when the request is genuine, else why not: the 401's message, which
never holds the secret nor what was sent in its place.
"""

from __future__ import annotations

import hashlib
import hmac

GITHUB_HEADER = "X-Hub-Signature-256"
GITLAB_HEADER = "X-Gitlab-Token"


def _raw(header: str) -> bytes:
    # Starlette decodes header bytes as latin-1: this gives the bytes that were sent.
    return header.encode("latin-1", "replace")


def github(secrets: list[str], header: str | None, body: bytes) -> str | None:
    if not header:
        return (
            f"{GITHUB_HEADER} missing: give the GitHub webhook a secret, the one in "
            "sources.github.secret"
        )
    sent = _raw(header)
    # Every secret is tried (none is skipped once one matches): the time says nothing.
    matched = False
    for secret in secrets:
        digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
        matched |= hmac.compare_digest(sent, f"sha256={digest}".encode("ascii"))
    if not matched:
        return (
            f"{GITHUB_HEADER} does not match the body: the GitHub webhook's secret is not "
            "one in sources.github.secret (or the body was changed on the way)"
        )
    return None


def gitlab(tokens: list[str], header: str | None) -> str | None:
    if not header:
        return (
            f"{GITLAB_HEADER} missing: give the GitLab webhook a secret token, the one in "
            "sources.gitlab.token"
        )
    sent = _raw(header)
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(sent, token.encode("utf-8"))
    if not matched:
        return f"{GITLAB_HEADER} is not a token in sources.gitlab.token"
    return None
