"""Escaping text that users or commits control, per markup, so it can never mention, link or
break a layout (DESIGN.md: commit messages, remarks, names, branches).

The zero-width space (U+200B) is used where a platform has no escape syntax: it is invisible,
yet breaks the tokens that would otherwise act (`<@all>`, `<at id=all>`, `](`, `**`, `@mobile`).
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

ZWSP = "\u200b"

# Line starts that markdown would turn into headings, quotes, lists, rules or tables.
_BLOCK_START = re.compile(r"^(\s*)([#>\-+*=|]|\d+[.)]\s)")


def _break_tokens(text: str) -> str:
    text = text.replace("<", "<" + ZWSP)
    text = text.replace("](", "]" + ZWSP + "(")
    text = re.sub(r"([*_~`])(?=[*_~`])", r"\1" + ZWSP, text)
    return text


def _lines(text: str, block: bool, join: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not block:
        return " ".join(part.strip() for part in text.split("\n") if part.strip())
    lines = [
        _BLOCK_START.sub(lambda m: m.group(1) + ZWSP + m.group(2), line)
        for line in text.split("\n")
    ]
    return join.join(lines)


def markdown(text: str, *, block: bool = False) -> str:
    """For DingTalk and WeCom markdown: no mentions, no links, no HTML, no block markup."""
    text = _break_tokens(text).replace("@", "@" + ZWSP)
    return _lines(text, block, "  \n")


def lark_md(text: str, *, block: bool = False) -> str:
    """For Feishu lark_md: HTML entities for <, >, & (lark_md decodes them), tokens broken."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("](", "]" + ZWSP + "(")
    text = re.sub(r"([*_~`])(?=[*_~`])", r"\1" + ZWSP, text)
    return _lines(text, block, "\n")


def plain(text: str) -> str:
    """For plain-text fields (titles): one line, and no `<at ...>`-like token survives."""
    return _lines(text.replace("<", "<" + ZWSP), False, " ")


def safe_url(url: str) -> str | None:
    """An http(s) URL made safe inside markdown `(...)`, or None when it is not one."""
    url = (url or "").strip()
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    if scheme not in ("http", "https"):
        return None
    return quote(url, safe=":/?#[]@!$&'*+,;=%-._~")
