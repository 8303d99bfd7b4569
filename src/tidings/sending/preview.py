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


def _task_url(url: str, task_id: int, other: int) -> str:
    """The link of task `other` where `url` links task `task_id` (the id is a segment of
    its path, as in Zadig's task links); else `url` as it is."""
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    segments = parts.path.split("/")
    if str(task_id) not in segments:
        return url
    at = len(segments) - 1 - segments[::-1].index(str(task_id))
    segments[at] = str(other)
    return urllib.parse.urlunsplit(parts._replace(path="/".join(segments)))


def digest_calls(plan: Plan, backlog: int) -> tuple[list[dict], list[str]]:
    """The digests each robot of the plan would get if `backlog` events like this one (task
    ids counting up from its own) waited in its queue and were merged (delivery.coalesce):
    (the calls, as prepared_calls shows them; a note for each ctl that is never merged)."""
    from tidings import channels
    from tidings.channels.base import RenderContext
    from tidings.channels.digest import Item

    calls: list[dict] = []
    notes: list[str] = []
    now = time.time()
    for item in plan.planned:
        channel = channels.get(item.webhook_type)
        entry = next((r.digest for r in item.requests if r.digest is not None), None)
        if channel.render_digest is None or entry is None:
            why = "coalesce: false" if channel.render_digest is not None else "each payload counts"
            notes.append(f"{item.source} ({item.webhook_type}): never merged ({why})")
            continue
        first = int(entry["task_id"])
        items = [
            Item(
                f"event-{n}",
                {
                    **entry,
                    "task_id": first + n,
                    "url": _task_url(str(entry.get("url", "")), first, first + n),
                },
            )
            for n in range(backlog)
        ]
        ctx = RenderContext(item.key, str(entry.get("language", "zh-cn")))
        for requests, _carried in channel.render_digest(items, ctx):
            for request in requests:
                row = describe_call(prepare(request, item.destination, "<delivery id>", now))
                calls.append(
                    {
                        "channel": request.channel,
                        "destination": request.destination,
                        "source": item.source,
                        "label": request.label,
                        **redact_call(row),
                    }
                )
    return calls, notes


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
