"""Addresses are shown without what makes them secret: query values, token-like path
segments, Feishu bot tokens (/hook/…), Slack-style secrets (/services/T…/B…/…), passwords."""

from __future__ import annotations

import pytest

from tidings.redact import Redactor, redact_url, url_secrets


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://oapi.dingtalk.com/robot/send?access_token=abc",
            "https://oapi.dingtalk.com/robot/send?access_token=***",
        ),
        (
            "https://open.feishu.cn/open-apis/bot/v2/hook/short",
            "https://open.feishu.cn/open-apis/bot/v2/hook/***",
        ),
        (
            "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/short-secret",
            "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/***",
        ),
        ("https://ops:pw@ci.example.com/ci", "https://ops:***@ci.example.com/ci"),
        ("https://ci.example.com/zadig", "https://ci.example.com/zadig"),
    ],
)
def test_addresses_are_shown_without_their_secrets(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_the_secrets_of_a_slack_address_are_masked_in_any_text() -> None:
    url = "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/s3cr3t-webhook"
    assert Redactor(url_secrets(url))(f"POST {url} failed") == (
        "POST https://hooks.slack.com/services/T0123ABCD/B0123ABCD/*** failed"
    )
