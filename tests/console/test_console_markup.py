"""The platforms' markup as HTML: what the platforms render is rendered, and nothing a
message holds becomes a tag, an attribute or a link of another scheme."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidings.console.markup import markdown, mrkdwn

HOSTILE = [
    "<script>alert(1)</script>",
    "[click](javascript:alert(1))",
    '<font color="red" onmouseover="alert(1)">x</font>',
    '<font color="red;background:url(//evil)">x</font>',
    "**<img src=x onerror=alert(1)>**",
    '<at user_id="x" onclick="alert(1)">y</at>',
    "### <b onclick=alert(1)>t</b>",
    '[x](https://ok.example/"onmouseover="alert(1))',
]


def _tags(html: str) -> list[str]:
    return re.findall(r"<\s*([a-zA-Z0-9]+)([^>]*)>", html)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_markdown_stays_text(text):
    html = str(markdown(text))
    for name, attributes in _tags(html):
        assert name in ("div", "p", "h3", "strong", "span", "b", "a", "hr")
        assert not re.search(r"\son\w+=", attributes), html
        if name == "a":
            assert re.fullmatch(r' href="https://[^"]*" rel="[^"]*" target="_blank"', attributes)
        if name == "span":
            assert re.fullmatch(r'( style="color:#?[0-9a-zA-Z]+"| class="mention")?', attributes)
    assert "javascript:" not in re.sub(r"&[a-z#0-9]+;", "", "".join(a for _, a in _tags(html)))


def test_what_the_platforms_render_is_rendered():
    html = str(
        markdown(
            '### <font color="#eb0823"><b>❌工作流 wf #3 执行失败</b></font>\n'
            "##### **执行用户**：alice\n---\n[点击查看更多信息](https://zadig.example.com/x?a=1&b=2)\n"
            "<@zhangsan> <font color=info>ok</font>"
        )
    )
    assert '<h3><span style="color:#eb0823"><b>❌工作流 wf #3 执行失败</b></span></h3>' in html
    assert "<h5><strong>执行用户</strong>：alice</h5>" in html and "<hr>" in html
    assert 'href="https://zadig.example.com/x?a=1&amp;b=2"' in html
    assert '<span class="mention">@zhangsan</span>' in html
    assert '<span style="color:#2ea121">ok</span>' in html


def test_slack_mrkdwn():
    html = str(
        mrkdwn(
            "*bold* _it_ <https://a.example/x|link> <@U1> <!channel> &lt;b&gt; <javascript:x|no>"
        )
    )
    assert "<strong>bold</strong> <em>it</em>" in html
    assert '<a href="https://a.example/x"' in html and ">link</a>" in html
    assert '<span class="mention">@U1</span> <span class="mention">@channel</span>' in html
    assert "&lt;b&gt;" in html and "javascript" not in html.split("&lt;b&gt;")[1].split("no")[0]
    assert 'href="javascript' not in html


@given(st.text(max_size=200))
def test_any_text_makes_no_tag_of_its_own(text):
    for html in (str(markdown(text)), str(mrkdwn(text))):
        for name, attributes in _tags(html):
            assert name in (
                "div",
                "p",
                "h1",
                "h2",
                "h3",
                "h4",
                "h5",
                "h6",
                "strong",
                "em",
                "del",
                "code",
                "span",
                "b",
                "a",
                "hr",
                "br",
            )
            assert not re.search(r"\son\w+=", attributes)
