"""A notify_ctl's models (tidings.schema dataclasses): the checks `tidings notify` and the
configuration share, and how the configuration's pydantic models embed them."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from tidings.channels.dingding import DingdingConfig
from tidings.channels.feishu_openapi import LarkUser
from tidings.config.notify_ctl import NotifyCtl
from tidings.schema import Invalid


def problems_of(data: object) -> list[tuple[tuple, str]]:
    with pytest.raises(Invalid) as caught:
        NotifyCtl.parse(data)
    return caught.value.problems


def test_every_problem_is_listed_with_its_path():
    found = problems_of(
        {
            "webhook_type": "feishu_app",
            "notify_types": ["passed"],
            "lark_group_notification_config": {
                "chat": {"chat_name": "release"},
                "at_users": [{"id": "u1", "id_type": "phone"}, "u2"],
                "is_at_all": "maybe",
            },
        }
    )
    sub = "lark_group_notification_config"
    assert found == [
        (("notify_types",), "unknown field; did you mean notify_type?"),
        ((sub, "app_id"), "field required"),
        ((sub, "chat", "chat_id"), "field required"),
        (
            (sub, "at_users", 0, "id_type"),
            "must be one of 'open_id', 'union_id', 'user_id', 'email', 'mobile'; got 'phone'",
        ),
        ((sub, "at_users", 1), "must be a mapping"),
        ((sub, "is_at_all"), "must be true or false"),
    ]


def test_values_are_converted_as_zadig_writes_them():
    ctl = NotifyCtl.parse(
        {
            "webhook_type": "dingding",
            "notify_type": "passed;failed",
            "enabled": "false",  # an ${ENV} value arrives as a string
            "dingding_notification_config": {
                "hook_address": "https://oapi.dingtalk.com/robot/send?access_token=t",
                "at_mobiles": "13800000000; 13900000000",
                "at_user_ids": [1001, "u2"],
                "is_at_all": 1,
            },
        }
    )
    sub = ctl.settings
    assert ctl.notify_type == ["passed", "failed"] and ctl.enabled is False
    assert sub.at_mobiles == ["13800000000", "13900000000"]
    assert sub.at_user_ids == ["1001", "u2"]
    assert sub.is_at_all is True and sub.secret is None and sub.dynamic_recipients == []
    assert LarkUser.parse({"id": "u1", "id_type": ""}).id_type == "user_id"
    one = {"hook_address": "https://oapi.dingtalk.com/robot/send", "at_mobiles": 13800000000}
    assert DingdingConfig.parse(one).at_mobiles == ["13800000000"]  # a YAML number


def test_deprecated_flat_fields_are_mapped_before_checking():
    ctl = NotifyCtl.parse(
        {
            "webhook_type": "wechat",
            "weChat_webHook": "https://qyapi.example.com/x",
            "is_at_all": True,
        }
    )
    assert ctl.sub_config().hook_address == "https://qyapi.example.com/x"
    assert ctl.sub_config().is_at_all is True


def test_wrong_types_are_named():
    found = problems_of({"webhook_type": 3, "notify_type": {"passed": 1}, "enabled": None})
    assert found == [
        (("enabled",), "must be true or false"),
        (("webhook_type",), "must be a string"),
        (("notify_type",), "must be a list"),
    ]
    assert problems_of(["webhook"]) == [((), "must be a mapping")]


class Holder(BaseModel):
    ctls: list[NotifyCtl] = []


def test_a_pydantic_model_embeds_the_same_checks_and_dumps_plain_data():
    ctl = {"webhook_type": "webhook", "webhook_notification_config": {"address": "https://h/x"}}
    held = Holder.model_validate({"ctls": [ctl]})
    assert isinstance(held.ctls[0], NotifyCtl)
    dumped = held.model_dump(mode="json")["ctls"][0]
    assert dumped["webhook_notification_config"] == {
        "address": "https://h/x",
        "token": "",
        "task_creator_phone": True,
        "signing_secret": "",
    }
    assert NotifyCtl.parse(dumped) == held.ctls[0]

    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        Holder.model_validate({"ctls": [ctl, {"webhook_type": "webhook", "bogus": 1}]})
    (error,) = caught.value.errors()
    assert error["loc"] == ("ctls", 1)
    assert error["ctx"]["error"].problems == [
        (("bogus",), "unknown field; check its spelling against docs/configuration.md"),
        (
            ("webhook_notification_config",),
            "field required for webhook_type webhook (or, as Zadig before 3.3.0 wrote it, "
            "webhook_notify.address or webhook_notify.token)",
        ),
    ]


# Anything YAML or JSON can hold, with the keys a notify_ctl has (deprecated ones included).
KEYS = [
    "webhook_type", "notify_type", "enabled", "is_at_all", "at_mobiles", "hook_address",
    "dingding_notification_config", "lark_group_notification_config", "chat", "at_users",
    "id", "id_type", "mail_notification_config", "target_users", "type", "webhook_notify",
    "lark_at_users", "feishu_chat", "feishu_app_id", "mail_users", "dingding_webhook", "bogus",
]  # fmt: skip
SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
VALUES = st.recursive(
    SCALARS | st.sampled_from(["dingding", "feishu_app", "mail", "webhook", "user", "email"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner),
    max_leaves=12,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6) | VALUES)
def test_any_input_is_a_ctl_or_a_list_of_problems_never_a_crash(data):
    try:
        ctl = NotifyCtl.parse(data)
    except Invalid as exc:
        assert exc.problems and all(isinstance(message, str) for _, message in exc.problems)
    else:
        assert isinstance(ctl.webhook_type, str) and isinstance(ctl.notify_type, list)
