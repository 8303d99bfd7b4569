"""When a notify_ctl fires: notify_type, enabled, reject-as-failed, and `changed`."""

import pytest

from tidings.config.notify_ctl import NotifyCtl
from tidings.dispatch.rules import fires, matching

OUTCOMES = ("passed", "failed", "timeout", "cancelled", "reject", "pause", "wait_for_approval")


def ctl(*statuses: str, enabled: bool = True) -> NotifyCtl:
    return NotifyCtl.parse(
        {
            "enabled": enabled,
            "webhook_type": "webhook",
            "notify_type": list(statuses),
            "webhook_notification_config": {"address": "https://hooks.example.com/z"},
        }
    )


@pytest.mark.parametrize("status", (*OUTCOMES, "created"))
def test_fires_for_a_status_in_notify_type(status):
    assert fires(ctl(status), status)


def test_does_not_fire_for_a_status_not_subscribed():
    assert not fires(ctl("passed"), "failed")
    assert not fires(ctl("failed"), "passed")
    assert not fires(ctl("passed", "failed"), "created")


def test_empty_notify_type_never_fires():
    assert not any(fires(ctl(), status) for status in (*OUTCOMES, "created"))


@pytest.mark.parametrize("status", (*OUTCOMES, "created"))
def test_disabled_ctl_never_fires(status):
    off = ctl(*OUTCOMES, "created", "changed", enabled=False)
    assert not fires(off, status)
    assert not fires(off, status, previous_status="passed")
    assert not fires(off, status, previous_status="failed")


def test_reject_fires_for_a_ctl_subscribed_to_failed():
    assert fires(ctl("failed"), "reject")


def test_failed_does_not_fire_for_a_ctl_subscribed_only_to_reject():
    assert not fires(ctl("reject"), "failed")


def test_reject_does_not_fire_for_unrelated_subscriptions():
    assert not fires(ctl("passed", "timeout"), "reject")


def test_changed_fires_when_previous_status_differs():
    assert fires(ctl("changed"), "failed", previous_status="passed")
    assert fires(ctl("changed"), "passed", previous_status="failed")


def test_changed_does_not_fire_when_status_is_the_same():
    assert not fires(ctl("changed"), "passed", previous_status="passed")
    assert not fires(ctl("changed"), "failed", previous_status="failed")


def test_changed_does_not_fire_without_a_previous_status():
    assert not fires(ctl("changed"), "failed")
    assert not fires(ctl("changed"), "failed", previous_status=None)


@pytest.mark.parametrize("status", ["created", "running"])
def test_changed_never_fires_for_created_or_running(status):
    assert not fires(ctl("changed"), status, previous_status="passed")
    assert not fires(ctl("changed"), status, previous_status="failed")


def test_changed_plus_explicit_status_still_fires_for_that_status():
    assert fires(ctl("changed", "passed"), "passed", previous_status="passed")


def test_matching_returns_indexes_of_firing_ctls_in_order():
    ctls = [
        ctl("passed"),
        ctl("failed"),
        ctl("passed", enabled=False),
        ctl("failed", "passed"),
        ctl("changed"),
    ]
    found = matching(ctls, "passed", previous_status="failed")
    assert [index for index, _ in found] == [0, 3, 4]
    assert [c for _, c in found] == [ctls[0], ctls[3], ctls[4]]


def test_matching_reject_includes_failed_subscribers():
    ctls = [ctl("passed"), ctl("failed"), ctl("reject")]
    assert [index for index, _ in matching(ctls, "reject")] == [1, 2]


def test_matching_nothing_fires():
    assert matching([ctl("passed"), ctl("failed", enabled=False)], "failed") == []
    assert matching([], "passed") == []


def test_notify_type_given_as_semicolon_string_is_accepted():
    parsed = NotifyCtl.parse(
        {
            "webhook_type": "webhook",
            "notify_type": "passed;failed",
            "webhook_notification_config": {"address": "https://hooks.example.com/z"},
        }
    )
    assert fires(parsed, "failed")
    assert fires(parsed, "reject")
    assert not fires(parsed, "timeout")
