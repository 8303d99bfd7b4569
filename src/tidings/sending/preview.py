"""What a plan would send, as it would go on the wire now, with every secret masked.

Shared by `tidings preview`, `notify --dry-run` and the API's /preview.
"""

from __future__ import annotations

import json
import time

from tidings.delivery.transport import describe_call, prepare
from tidings.dispatch.plan import Plan
from tidings.redact import MASK, redact_url

_SECRET_HEADERS = ("x-zadig-token", "authorization", "webhook-signature")


def _mask_header(value: str) -> str:
    """`Bearer t-abc` -> `Bearer ***`: the scheme says what is sent, the token is masked."""
    scheme, _, rest = value.partition(" ")
    return f"{scheme} {MASK}" if rest and scheme.isalpha() else MASK


def redact_call(call: dict, *, mask_url: bool = True) -> dict:
    """A prepared call (transport.describe_call) with its URL, tokens and signature masked."""
    headers = {
        k: (_mask_header(v) if k.lower() in _SECRET_HEADERS else v)
        for k, v in call["headers"].items()
    }
    body = call["body"]
    if isinstance(body, dict) and "sign" in body:
        body = {**body, "sign": MASK}
    url = redact_url(call["url"]) if mask_url else call["url"]
    return {**call, "url": url, "headers": headers, "body": body}


def prepared_calls(plan: Plan) -> list[dict]:
    """Every request of a plan as it would go on the wire now, redacted, with its origin.

    A channel with its own protocol shows its calls through its `preview` hook (Feishu
    apps: the token request, the id lookup, the message; mail: the SMTP session); a token
    request is shown once per app, as it is made once.
    """
    from tidings import channels

    calls = []
    shown_tokens: set[str] = set()
    now = time.time()
    for item in plan.planned:
        hook = channels.get(item.webhook_type).preview
        for request in item.requests:
            # The id a delivery will get when recorded; shown as a placeholder.
            if hook is None:
                rows = [describe_call(prepare(request, item.destination, "<delivery id>", now))]
            else:
                rows = hook(request, item.destination, "<delivery id>", now)
            for row in rows:
                label = row.pop("label", request.label)
                if label == "tenant_access_token":
                    seen = json.dumps([row["url"], row["body"]], sort_keys=True)
                    if seen in shown_tokens:
                        continue
                    shown_tokens.add(seen)
                calls.append(
                    {
                        "channel": request.channel,
                        "destination": request.destination,
                        "source": item.source,
                        "label": label,
                        **redact_call(row, mask_url=hook is None),
                    }
                )
    return calls
