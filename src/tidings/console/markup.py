"""The markup each platform reads, turned into HTML as its client shows it: DingTalk and
WeCom markdown, Feishu's lark_md, Teams' TextBlock markdown, Slack's mrkdwn.

Everything is escaped first; only the constructs a platform renders are then turned back
into tags, each from a fixed pattern (bold, links to http(s) URLs, headings, rules, colours
named or in hex, mentions). Nothing of the message can add an attribute, a script or a URL
of another scheme.
"""

from __future__ import annotations

import html
import re
import urllib.parse

from markupsafe import Markup, escape

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)\*(?![\w*])")
_LINK = re.compile(r"\[([^\]\n]*)\]\((https?://[^\s)]+)\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_COLOUR = re.compile(r"^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20})$")
# WeCom's three named colours (企业微信 markdown: info, comment, warning).
_WECOM = {"info": "#2ea121", "comment": "#8f959e", "warning": "#ff7d00"}
_FONT_OPEN = re.compile(r"&lt;font color=(?:&#34;|&#39;)?([#\w]+)(?:&#34;|&#39;)?&gt;")
_FONT_CLOSE = "&lt;/font&gt;"
_B = ("&lt;b&gt;", "&lt;/b&gt;")
_WECOM_MENTION = re.compile(r"&lt;@([\w.\-@]+)&gt;")
_LARK_AT = re.compile(
    r"&lt;at (?:user_id|id|email)=(?:&#34;|&#39;)?([^&\s]+?)(?:&#34;|&#39;)?&gt;(.*?)&lt;/at&gt;"
)
_TEAMS_AT = re.compile(r"&lt;at&gt;(.*?)&lt;/at&gt;")


def safe_href(url: str) -> str | None:
    """An http(s) URL to link to, or None (a `dingtalk://` link opens the URL it wraps)."""
    url = html.unescape(url)
    if url.startswith("dingtalk://"):
        inner = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("url", [""])[0]
        url = inner
    return url if re.match(r"^https?://", url) else None


def _link(match: re.Match[str]) -> str:
    href = safe_href(match[2])
    if href is None:
        return match[0]
    return (
        f'<a href="{escape(href)}" rel="noopener noreferrer nofollow" target="_blank">'
        f"{match[1]}</a>"
    )


def _colour(value: str) -> str | None:
    value = _WECOM.get(value, value)
    return value if _COLOUR.match(value) else None


def _fonts(text: str) -> str:
    """`<font color=…>` pairs as coloured spans; an unpaired tag stays text."""
    if text.count(_FONT_CLOSE) != len(_FONT_OPEN.findall(text)):
        return text

    def opened(match: re.Match[str]) -> str:
        colour = _colour(html.unescape(match[1]))
        return f'<span style="color:{colour}">' if colour else "<span>"

    return _FONT_OPEN.sub(opened, text).replace(_FONT_CLOSE, "</span>")


def _inline(text: str) -> str:
    """Bold, links, colours and mentions in a line that is already escaped."""
    text = _LINK.sub(_link, text)
    text = _BOLD.sub(r"<strong>\1</strong>", text)
    text = _fonts(text)
    if text.count(_B[0]) == text.count(_B[1]):
        text = text.replace(_B[0], "<b>").replace(_B[1], "</b>")
    text = _WECOM_MENTION.sub(r'<span class="mention">@\1</span>', text)
    text = _LARK_AT.sub(lambda m: f'<span class="mention">@{m[2] or m[1]}</span>', text)
    text = _TEAMS_AT.sub(r'<span class="mention">@\1</span>', text)
    return text


def markdown(text: str) -> Markup:
    """DingTalk, WeCom, Feishu (lark_md) and Teams markdown: headings, bold, links, rules,
    colours, mentions; a line break where the text has one."""
    out: list[str] = []
    for line in str(text).split("\n"):
        escaped = str(escape(line.rstrip()))
        heading = _HEADING.match(escaped)
        if heading:
            level = len(heading[1])
            out.append(f"<h{level}>{_inline(heading[2])}</h{level}>")
        elif escaped.strip() in ("---", "***", "___"):
            out.append("<hr>")
        elif escaped.strip():
            out.append(f"<p>{_inline(escaped)}</p>")
    return Markup('<div class="md">' + "".join(out) + "</div>")


_SLACK_TOKEN = re.compile(r"<([^<>\n]+)>")
_SLACK_BOLD = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)\*(?![\w*])")
_SLACK_ITALIC = re.compile(r"(?<![\w_])_(?!\s)([^_\n]+?)_(?![\w_])")
_SLACK_STRIKE = re.compile(r"(?<![\w~])~(?!\s)([^~\n]+?)~(?![\w~])")
_SLACK_CODE = re.compile(r"`([^`\n]+)`")


def _slack_plain(text: str) -> str:
    """Slack text between its control sequences: its own entities decoded, then escaped
    for HTML, then *bold*, _italic_, ~strike~ and `code`."""
    escaped = str(escape(text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")))
    escaped = _SLACK_CODE.sub(r"<code>\1</code>", escaped)
    escaped = _SLACK_BOLD.sub(r"<strong>\1</strong>", escaped)
    escaped = _SLACK_ITALIC.sub(r"<em>\1</em>", escaped)
    return _SLACK_STRIKE.sub(r"<del>\1</del>", escaped)


def _slack_control(inner: str) -> str:
    """`<@U…>`, `<!channel>`, `<url|label>` as Slack shows them."""
    if inner.startswith("@"):
        return f'<span class="mention">@{escape(inner[1:].split("|")[0])}</span>'
    if inner.startswith("!"):
        return f'<span class="mention">@{escape(inner[1:].split("|")[0])}</span>'
    url, _, label = inner.partition("|")
    href = safe_href(url)
    shown = _slack_plain(label or url)
    if href is None:
        return shown
    return (
        f'<a href="{escape(href)}" rel="noopener noreferrer nofollow" target="_blank">{shown}</a>'
    )


def mrkdwn(text: str) -> Markup:
    """Slack's mrkdwn, line breaks kept."""
    out: list[str] = []
    last = 0
    for match in _SLACK_TOKEN.finditer(str(text)):
        out.append(_slack_plain(text[last : match.start()]))
        out.append(_slack_control(match[1]))
        last = match.end()
    out.append(_slack_plain(text[last:]))
    return Markup("".join(out).replace("\n", "<br>"))
