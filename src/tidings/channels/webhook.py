"""Generic webhook: Zadig's body and X-Zadig-* headers, so existing receivers work unchanged.

X-Zadig-Event-UUID carries the delivery id, stable across retries (Zadig sends a fresh one each
time, so a receiver could not drop duplicates); X-Zadig-Token is added at send time. With a
`signing_secret` (an extension) every request is also signed as the Standard Webhooks
specification says (webhook-id, webhook-timestamp, webhook-signature), at send time too.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tidings import __version__
from tidings.channels import identity
from tidings.channels.base import (
    Channel,
    Destination,
    Fail,
    Limits,
    Ok,
    Outcome,
    RenderContext,
    Request,
    Response,
    Retry,
    http_outcome,
)
from tidings.notify.content import Message, Note
from tidings.schema import Model

if TYPE_CHECKING:
    from tidings.channels.ports import SystemView

WEBHOOK_TYPE = "webhook"
LIMITS = Limits()
ZADIG_VERSION = "3.3.0"
USER_AGENT = f"Zadig/{ZADIG_VERSION} tidings/{__version__}"
EVENT_ID_HEADER = "X-Zadig-Event-UUID"
TOKEN_HEADER = "X-Zadig-Token"
# Standard Webhooks: the secret is base64 (24 to 64 bytes), written with the whsec_ prefix.
SIGNING = "standard-webhooks"
SECRET_PREFIX = "whsec_"
SECRET_BYTES = (24, 64)
_NEW_SECRET = (
    'generate one with: python3 -c "import base64, os; '
    "print('whsec_' + base64.b64encode(os.urandom(32)).decode())\""
)
# Namespace for X-Zadig-Webhook-UUID: one stable id per configured webhook.
_WEBHOOK_NAMESPACE = uuid.UUID("6f1c2f4e-3a57-4d0b-9a43-1c0de7a1d1a5")


@dataclass
class WebhookConfig(Model):
    """webhook_notification_config (Zadig's fields): `token` is sent as X-Zadig-Token.
    `task_creator_phone` (an extension): false leaves that key out of the body, as Zadig
    does since v5 for privacy; Zadig 3.x sent it, and so does tidings by default."""

    address: str
    token: str = ""
    task_creator_phone: bool = True
    signing_secret: str = ""  # an extension: Standard Webhooks signatures (whsec_...)

    def _problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        if not self.signing_secret:
            return []
        why = signing_secret_problem(self.signing_secret)
        return [(("signing_secret",), why)] if why else []


def signing_secret_problem(secret: str) -> str:
    """What is wrong with a Standard Webhooks secret ("" when nothing): whsec_ and the base64
    of 24 to 64 random bytes, as the specification's libraries make and read it."""
    if not secret.startswith(SECRET_PREFIX):
        return f"must start with {SECRET_PREFIX} (a Standard Webhooks secret); {_NEW_SECRET}"
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        return f"{SECRET_PREFIX} must be followed by base64; {_NEW_SECRET}"
    low, high = SECRET_BYTES
    if not low <= len(key) <= high:
        return f"must hold {low} to {high} bytes (it holds {len(key)}); {_NEW_SECRET}"
    return ""


def destination(config: WebhookConfig, system: SystemView | None = None) -> Destination:
    """The receiver is its URL; X-Zadig-Token and the signing secret are today's, not part of
    its name."""
    key = identity.address_key(WEBHOOK_TYPE, [config.address])
    return Destination(
        key=key,
        url=config.address,
        token=config.token or None,
        secret=config.signing_secret or None,
    )


def _headers(ctx: RenderContext, event: str) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
        "X-Zadig-Event": event,
        "X-Zadig-Webhook-UUID": str(uuid.uuid5(_WEBHOOK_NAMESPACE, ctx.destination)),
    }
    if ctx.instance:
        headers["X-Zadig-Instance"] = ctx.instance
    return headers


def _request(body: dict[str, Any], ctx: RenderContext, event: str) -> Request:
    return Request(
        channel=WEBHOOK_TYPE,
        destination=ctx.destination,
        body=body,
        headers=_headers(ctx, event),
        event_id_header=EVENT_ID_HEADER,
        label=event,
        sign=SIGNING,  # when the destination has a signing_secret at send time
    )


def render(message: Message, config: WebhookConfig, ctx: RenderContext) -> list[Request]:
    """Zadig's WebHookNotify: every key always there, release_plan null for a workflow."""
    workflow = dict(message.payload)
    if not config.task_creator_phone:
        workflow.pop("task_creator_phone", None)
    body: dict[str, Any] = {"object_kind": "workflow", "event": "workflow"}
    body.update(workflow=workflow, release_plan=None)
    return [_request(body, ctx, "workflow")]


def render_note(note: Note, config: WebhookConfig, ctx: RenderContext) -> list[Request]:
    """An extension (Zadig's notification job has no webhook type): title, content and link."""
    body = {
        "object_kind": "notification",
        "event": "notification",
        "notification": {"title": note.title, "content": note.content, "detail_url": note.url},
    }
    return [_request(body, ctx, "notification")]


def interpret(response: Response) -> Outcome:
    decided = http_outcome(response)
    if decided is not None:
        return decided
    if 200 <= response.status < 300:
        return Ok(f"HTTP {response.status}", response.status)
    snippet = response.body[:200].decode("utf-8", "replace")
    if response.status == 408:
        return Retry(f"HTTP 408: {snippet}", code=408)
    return Fail(f"HTTP {response.status}: {snippet}", response.status)


CHANNEL = Channel(
    webhook_type=WEBHOOK_TYPE,
    config_key="webhook_notification_config",
    config_type=WebhookConfig,
    limits=LIMITS,
    destination=destination,
    render=render,
    render_note=render_note,
    interpret=interpret,
    sandbox="webhook",
    known_as=("http", "generic"),
    url_fields=("address",),
    secret_fields=("token", "signing_secret"),
    deprecated={"address": "webhook_notify.address", "token": "webhook_notify.token"},
)
