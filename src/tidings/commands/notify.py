"""`tidings notify`: one ad-hoc message to one channel, from flags or a notification-job spec."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from tidings.commands.output import Output
from tidings.config.adhoc import validate_ctl
from tidings.errors import InputError, Problem
from tidings.notify.content import Note


def _from_flags(options: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
    """The ctl the flags describe, in its channel's own field names."""
    from tidings import channels

    kind = options["webhook_type"]
    if not kind:
        raise InputError("--type is required (e.g. dingding, wechat, feishu), or pass --spec")
    from tidings.config.adhoc import ad_hoc_types, not_ad_hoc

    try:
        channel = channels.get(kind)
    except ValueError:
        channel = None
    if channel is None:
        raise InputError(f"--type: {channels.unknown(kind, ad_hoc_types())}")
    if kind not in ad_hoc_types():
        raise InputError(f"--type: {not_ad_hoc(kind)}")
    sub: dict[str, Any] = {channel.url_fields[0]: options["hook_address"] or ""}
    given = {"--secret": "secret", "--token": "token"}
    for flag, name in given.items():
        value = options[name]
        if value and name not in channel.secret_fields:
            raise InputError(f"{flag}: {kind} has no {name}")
        if value:
            sub[name] = value
    if options["at"]:
        if channel.mentions is None:
            raise InputError(f"--at: {kind} messages mention nobody")
        sub[channel.mentions] = list(options["at"])
    if options["at_all"]:
        if channel.at_all is None:
            raise InputError(f"--at-all: {kind} cannot mention everyone")
        sub[channel.at_all] = True
    content = options["content"]
    if content == "-":
        content = sys.stdin.read()
    ctl = {"webhook_type": kind, channel.config_key: sub}
    return ctl, options["title"] or "", content or ""


def _from_spec(path: str) -> tuple[dict[str, Any], str, str, dict]:
    # Only a spec needs YAML (and the configuration's ${ENV} expansion).
    from tidings.yamlsrc import expand_env, load_yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read spec file {path}: {exc.strerror or exc}") from None
    data, lines = load_yaml(text, path)
    problems: list[Problem] = []
    data = expand_env(data, (), problems, dict(os.environ))
    if problems:
        raise InputError(f"{path}: invalid notification spec", problems)
    if isinstance(data, dict) and isinstance(data.get("spec"), dict):
        data = data["spec"]  # a whole Zadig job: {name, type: notification, spec: {...}}
    if not isinstance(data, dict):
        raise InputError(f"{path}: a notification spec must be a mapping")
    data = dict(data)
    title = str(data.pop("title", "") or "")
    content = str(data.pop("content", "") or "")
    data.pop("source", None)  # Zadig's "runtime" source marker
    return data, title, content, lines


def run(**options: Any) -> int:
    from tidings.commands.send import run_plan
    from tidings.dispatch.plan import plan_note

    out = Output()
    # Mask what was given on the command line even before validation can fail.
    out.with_secrets([v for v in (options["secret"], options["token"]) if v])
    if options["spec_path"]:
        ctl_data, title, content, lines = _from_spec(options["spec_path"])
        where, flags = options["spec_path"], False
    else:
        ctl_data, title, content = _from_flags(options)
        lines, where, flags = None, "notify", True
    ctl = validate_ctl(ctl_data, where, lines, flags)
    out.with_secrets(ctl.secrets())
    if not title and not content:
        raise InputError(
            "nothing to send: give --title and/or --content (or title/content in the spec)"
        )
    note = Note(
        title=title or content.splitlines()[0],
        content=content,
        url=options["url"] or "",
        language=options["language"],
    )
    plan = plan_note(note, ctl)
    if options["dry_run"]:
        return _print_dry_run(plan, out, options["as_json"])
    from tidings.delivery.outbox import NewEvent

    event = NewEvent(kind="notification", status="notification")
    return run_plan(
        plan,
        event,
        config=None,
        deadline=options["deadline"],
        wait=True,
        as_json=options["as_json"],
        out=out,
    )


def _print_dry_run(plan: Any, out: Output, as_json: bool) -> int:
    from tidings.commands.common import print_calls
    from tidings.sending.preview import prepared_calls

    calls = prepared_calls(plan)
    if as_json:
        out.json({"requests": calls})
    else:
        print_calls(calls, out)
    return 0
