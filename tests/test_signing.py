"""Signatures match the platforms' published test vectors (specs/platforms.md)."""

from urllib.parse import parse_qs, urlsplit

from tidings.channels.base import Destination, Request
from tidings.delivery.signing import dingtalk_sign, feishu_sign
from tidings.delivery.transport import prepare


def test_dingtalk_vector():
    assert (
        dingtalk_sign("SEC0123456789abcdef", 1700000000000)
        == "TSZbRFUuvaSQaRKUpF970OPCb2/LcQAP3wOvwZIzBZk="
    )


def test_feishu_vector():
    assert feishu_sign("demo_secret", 1700000000) == "jy72iuUPjLGbTsx+CUgWWMxZkPykAK7EOq9XV4u+X6U="


def test_dingtalk_sign_is_url_encoded_exactly_once():
    request = Request("dingding", "d", {"msgtype": "text"}, sign="dingtalk")
    destination = Destination(
        "d", "https://oapi.dingtalk.com/robot/send?access_token=T", secret="SEC0123456789abcdef"
    )
    call = prepare(request, destination, "id", 1700000000.0)
    assert call.url.endswith(
        "&timestamp=1700000000000&sign=TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D"
    )
    # Decoding once gives the signature back: it was not encoded twice.
    assert parse_qs(urlsplit(call.url).query)["sign"] == [
        "TSZbRFUuvaSQaRKUpF970OPCb2/LcQAP3wOvwZIzBZk="
    ]


def test_feishu_signature_goes_in_the_body_in_seconds():
    import json

    request = Request("feishu", "f", {"msg_type": "text"}, sign="feishu")
    destination = Destination(
        "f", "https://open.feishu.cn/open-apis/bot/v2/hook/x", secret="demo_secret"
    )
    body = json.loads(prepare(request, destination, "id", 1700000000.9).body)
    assert body["timestamp"] == "1700000000"
    assert body["sign"] == "jy72iuUPjLGbTsx+CUgWWMxZkPykAK7EOq9XV4u+X6U="
    assert body["msg_type"] == "text"


def test_no_secret_means_no_signature():
    request = Request("dingding", "d", {"msgtype": "text"}, sign="dingtalk")
    destination = Destination("d", "https://oapi.dingtalk.com/robot/send?access_token=T")
    call = prepare(request, destination, "id", 1700000000.0)
    assert "sign=" not in call.url and "timestamp=" not in call.url
