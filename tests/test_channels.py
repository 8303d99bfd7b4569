"""Every registered channel is whole: its record names all a channel needs, and the sandbox
simulates it (docs/channels.md, "Adding a channel")."""

from __future__ import annotations

import dataclasses

import pytest

from tidings import channels
from tidings.channels.base import Channel, Limits
from tidings.config.notify_ctl import NotifyCtl
from tidings.sandbox.records import PLATFORMS
from tidings.schema import Model


@pytest.mark.parametrize("kind", channels.supported())
def test_every_channel_has_its_record(kind: str) -> None:
    channel = channels.get(kind)
    assert isinstance(channel, Channel)
    assert channel.webhook_type == kind
    assert channel.config_key == channels.config_key(kind)
    assert issubclass(channel.config_type, Model) and dataclasses.is_dataclass(channel.config_type)
    assert isinstance(channel.limits, Limits)
    assert callable(channel.render) and callable(channel.destination)
    assert callable(channel.escape)
    # Exactly one way of reading the platform's answer: one request, or steps of its own.
    assert (channel.interpret is None) != (channel.deliver is None)
    assert channel.sandbox in PLATFORMS, f"{kind}: no sandbox simulator {channel.sandbox!r}"
    # Whatever holds a secret is declared, so it is masked everywhere.
    fields = {f.name for f in dataclasses.fields(channel.config_type)}
    assert set(channel.url_fields) <= fields and set(channel.secret_fields) <= fields
    assert set(channel.recipient_fields.values()) <= fields
    assert channel.mentions is None or channel.mentions in fields
    assert channel.at_all is None or channel.at_all in fields
    if not channel.needs_system:  # ad hoc: one address describes it
        assert channel.url_fields and channel.render_note is not None


@pytest.mark.parametrize("kind", channels.supported())
def test_user_text_is_escaped_by_every_channel_that_has_markup(kind: str) -> None:
    channel = channels.get(kind)
    if kind == "webhook":
        assert channel.escape("<@all>") == "<@all>"  # JSON, no markup: kept as written
    else:
        assert channel.escape("<@all> [x](http://evil)") != "<@all> [x](http://evil)"


def test_a_ctl_of_every_ad_hoc_channel_masks_its_url_token() -> None:
    for kind in channels.supported():
        channel = channels.get(kind)
        if channel.needs_system:
            continue
        url = "https://hooks.example.com/services/T000/B000/s3cr3t-t0ken-abcdef?key=qs-s3cr3t"
        ctl = NotifyCtl.parse(
            {"webhook_type": kind, channel.config_key: {channel.url_fields[0]: url}}
        )
        assert "qs-s3cr3t" in ctl.secrets(), kind
