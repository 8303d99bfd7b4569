"""Email (邮件通知): one message per address, Zadig's subject and layout (specs/zadig.md §3),
an HTML body with a plain-text alternative, sent over SMTP (SSL, STARTTLS or plain).

A stored request holds the message (subject, from, to, html, text), never the server's
credentials: those come from system.smtp when it is sent. The delivery id becomes the
Message-ID, so a mail sent again after a lost answer can be recognised as the same one.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tidings.channels import escape, identity
from tidings.channels.base import (
    Channel,
    Destination,
    Fail,
    Limits,
    Ok,
    Outcome,
    Problems,
    RenderContext,
    Request,
    Retry,
)
from tidings.channels.ports import TransportFailure
from tidings.net import shown_host
from tidings.notify import texts
from tidings.notify.content import Line, Message, Note
from tidings.people import Target
from tidings.redact import MASK
from tidings.schema import Model

if TYPE_CHECKING:
    from email.message import EmailMessage

    from tidings.channels.ports import ConfigView, SendIO, SmtpServer, SystemView

WEBHOOK_TYPE = "mail"
CONFIG_KEY = "mail_notification_config"
LIMITS = Limits()  # servers differ; a refusal for volume is a 4xx, which is retried
_HINTS = {
    530: "the server wants AUTH: set system.smtp.username and password",
    535: "check system.smtp.username and password",
    550: "the server refused the address",
    554: "the server refused the message",
}
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


@dataclass
class MailConfig(Model):
    """mail_notification_config: users, groups, the task creator and raw addresses."""

    target_users: list[Target] = field(default_factory=list)
    dynamic_recipients: list[str] = field(default_factory=list)


def recipient_entry(_kind: str, value: str) -> Target:
    """An address named by dynamic_recipients, as a target_users entry."""
    return Target(type="email", user_name=value)


def check(config: MailConfig, view: ConfigView) -> tuple[Problems, Problems]:
    errors: Problems = []
    if view.system.smtp is None:
        errors.append(
            (
                ("webhook_type",),
                "mail needs a mail server: add system.smtp {host, port, security, username, "
                "password, sender}",
            )
        )
    for index, target in enumerate(config.target_users):
        at = (CONFIG_KEY, "target_users", index)
        errors.extend(((*at, *path), message) for path, message in _target(target, view))
    return errors, []


def _target(target: Target, view: ConfigView) -> Problems:
    if target.type == "user":
        user = view.user(target.user_id)
        if user is None:
            return [(("user_id",), f"unknown user {target.user_id!r}; add it under users:")]
        if not user.email:
            message = f"user {user.id!r} has no email; add email: to its entry under users:"
            return [(("user_id",), message)]
    if target.type == "group" and view.group(target.group_id) is None:
        return [(("group_id",), f"unknown group {target.group_id!r}; add it under groups:")]
    if target.type == "email" and not _EMAIL.match(target.user_name):
        return [
            (
                ("user_name",),
                f"{target.user_name!r} is not an email address (type email takes the address "
                "in user_name)",
            )
        ]
    return []


def destination(config: MailConfig, system: SystemView | None = None) -> Destination:
    """The mail server is what is addressed; each mailbox is a destination of it of its own
    (its key adds the address, channels.identity)."""
    smtp = system.smtp if system is not None else None
    if smtp is None:
        raise ValueError("system.smtp is no longer configured")
    server = f"{shown_host(smtp.host)}:{smtp.server_port}"
    return Destination(
        key=identity.address_key(WEBHOOK_TYPE, [smtp.host, str(smtp.server_port)]),
        url=f"smtp://{server}",
        secret=smtp.password or None,
        display=f"via {server}",
        options={"smtp": smtp},
    )


def describe(request: Request, destination: Destination) -> str:
    """How history shows one mailbox: `qa@example.com via smtp.example.com:587`."""
    return f"{request.body['to']} {destination.display}"


# --- rendering (pure) ----------------------------------------------------------------------


def subject(message: Message) -> str:
    """Zadig's mailTplTitle, one line whatever the name holds: `👍 工作流 name#12 执行成功`;
    the approval message's `⚠️工作流 name #12 等待审批`."""
    name = " ".join(message.display_name.split())
    kind, task_id, status = message.task_type_text, message.task_id, message.status_text
    if message.approval:
        return f"{message.icon}{kind} {name} #{task_id} {status}"
    return f"{message.icon} {kind} {name}#{task_id} {status}"


def _line(item: Line) -> str:
    """One line of mailTplBaseInfo / mailJobTplcontent: `label：value \n`, raw text."""
    head = f"{item.label}{item.sep}"
    if item.kind == "list":
        return f"{head}  \n" + "".join(f"{part}  \n" for part in item.value.split("\n"))
    if item.kind == "report":
        return f"{head}{item.value}\n \n" if item.value else f"{head} \n"
    value = item.value
    if item.links:  # markdown links; the commit's with spaces inside the parentheses
        value += " " + " ".join(
            f"[{text}]({url})" if text.startswith("#") else f"[{text}]( {url} )"
            for text, url in item.links
        )
    return f"{head}{value} \n"


def content(message: Message) -> str:
    """Zadig's mail content: the info lines and a block per job, each line `label：value`;
    no commit messages (trimmed, as Zadig)."""
    lines = [_line(item) for item in message.info]
    if message.approval:
        lines[-1] += "\n"
    status_label = message.text("status")
    for job in message.jobs:
        if job.status_text:
            lines.append(f"{job.type_text}：{job.name}    {status_label}：{job.status_text} \n")
        else:
            lines.append(f"{job.type_text}：{job.name}  \n")
        lines.extend(_line(item) for item in job.lines if item.kind != "message")
    if message.hidden_jobs:
        lines.append(message.hidden_jobs_line() + "\n")
    return "".join(lines).strip()


def page(language: str, intro: str, url: str | None, text: str) -> str:
    """The HTML of Zadig's mail templates (notification.html, notification_en.html): greeting,
    what ran, the link, the content as preformatted text, the footer; values escaped."""
    t = texts.TEXTS[language]
    link = (
        f'<p style="font-size: 14px;"><a href="{html.escape(url)}" target="_blank">'
        f"{html.escape(t['mail_more'])}</a></p>\n"
        if url
        else ""
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="UTF-8"></head>\n<body>\n'
        f'<p style="font-size: 18px; border-bottom: 1px solid #f0f0f0;">{t["mail_greeting"]}</p>\n'
        f'<h3 style="font-size: 18px; font-weight: 300;">{html.escape(intro)}</h3>\n'
        f"{link}"
        f"<pre>\n{html.escape(text)}\n</pre>\n"
        f'<div style="font-size: 90%;"><p>{html.escape(t["mail_footer"])}</p>\n'
        f"<p>{html.escape(t['mail_signature'])}</p></div>\n"
        "</body></html>\n"
    )


def bodies(message: Message) -> tuple[str, str]:
    """(HTML, plain text): the greeting, what ran, the workflow's page, the content, the
    footer. The plain-text part is an extension (Zadig sends HTML only)."""
    t = texts.TEXTS[message.language]
    task_type = texts.TEXTS[texts.ZH_CN]["workflow"]  # notification.html says 工作流, always
    if message.language == texts.EN_US:
        task_type = texts.task_type_text(message.task_type, message.language)
    intro = t["mail_intro"].format(
        task_type=task_type, name=message.display_name, id=message.task_id
    )
    url = escape.safe_url(message.workflow_url or message.url)
    text = content(message)
    one_line = " ".join(intro.split())
    plain = [t["mail_greeting"], "", one_line, ""]
    if url:
        plain += [f"{t['mail_more']}: {url}", ""]
    plain += [text, "", t["mail_footer"], t["mail_signature"]]
    return page(message.language, one_line, url, text), "\n".join(plain) + "\n"


def _recipients(targets: list[Target], ctx: RenderContext) -> list[str]:
    return ctx.directory.mail_addresses(targets) if ctx.directory is not None else []


def _mails(
    subject_line: str, page_html: str, text: str, addresses: list[str], ctx: RenderContext
) -> list[Request]:
    smtp = ctx.system.smtp if ctx.system is not None else None
    body = {
        "subject": subject_line,
        "from": smtp.sender if smtp is not None else "",
        "html": page_html,
        "text": text,
    }
    return [
        Request(
            WEBHOOK_TYPE,
            identity.key(ctx.destination, address.lower()),
            {**body, "to": address},
            label="mail",
            method="SMTP",
        )
        for address in addresses
    ]


def render(message: Message, config: MailConfig, ctx: RenderContext) -> list[Request]:
    page_html, plain = bodies(message)
    addresses = _recipients(config.target_users, ctx)
    return _mails(subject(message), page_html, plain, addresses, ctx)


def render_note(note: Note, config: MailConfig, ctx: RenderContext) -> list[Request]:
    """Zadig's notification job by mail: the title as the subject, the content as the body
    (the author's HTML, line breaks kept), to every recipient once."""
    page_html = (
        '<!DOCTYPE html>\n<html><head><meta charset="UTF-8"></head>\n<body>\n'
        f'<div style="white-space: pre-wrap;">{note.content}</div>\n</body></html>\n'
    )
    addresses = _recipients(config.target_users, ctx)
    return _mails(" ".join(note.title.split()), page_html, note.content + "\n", addresses, ctx)


# --- sending -------------------------------------------------------------------------------


def email_message(body: dict[str, Any], delivery_id: str) -> EmailMessage:
    """The MIME message: multipart/alternative, text first (the fallback), then HTML."""
    from email.message import EmailMessage
    from email.utils import formatdate

    mail = EmailMessage()
    mail["Subject"] = body["subject"]
    mail["From"] = body["from"]
    mail["To"] = body["to"]
    mail["Date"] = formatdate(localtime=True)
    mail["Message-ID"] = f"<{delivery_id}@tidings>"
    mail.set_content(body["text"])
    mail.add_alternative(body["html"], subtype="html")
    return mail


async def deliver(
    request: Request, destination: Destination, delivery_id: str, io: SendIO
) -> tuple[Outcome, int | None]:
    """Send one mail; the SMTP reply decides: 2xx sent, 4xx and lost connections retried,
    5xx failed with the server's own answer."""
    smtp: SmtpServer = destination.options["smtp"]
    server = f"{shown_host(smtp.host)}:{smtp.server_port}"
    message = email_message(request.body, delivery_id)
    try:
        code, text = await io.smtp(message, [request.body["to"]], smtp)
    except TransportFailure as exc:
        if exc.permanent:
            return Fail(f"{server}: {exc}"), None
        return Retry(f"{server}: {exc}"), None
    if 200 <= code < 300:
        return Ok(f"accepted by {server}: {text}".strip(), code), None
    return smtp_outcome(code, text, server), None


def smtp_outcome(code: int, text: str, server: str) -> Outcome:
    """A refusal by its reply code: 4xx is temporary, 5xx permanent (RFC 5321)."""
    answer = f"{server} answered {code} {text}".strip()
    if 400 <= code < 500:
        return Retry(answer, code=code)
    hint = _HINTS.get(code, "")
    return Fail(answer + (f" — {hint}" if hint else ""), code)


# --- preview -------------------------------------------------------------------------------


def preview(
    request: Request, destination: Destination, delivery_id: str, now: float
) -> list[dict[str, Any]]:
    """The SMTP session (server, security, login, password masked), headers and text part."""
    smtp: SmtpServer = destination.options["smtp"]
    headers = {
        "SMTP-Security": smtp.security,
        "SMTP-User": smtp.username or "(no AUTH)",
        "SMTP-Password": MASK if smtp.password else "",
        "From": request.body["from"],
        "To": request.body["to"],
        "Subject": request.body["subject"],
        "Message-ID": f"<{delivery_id}@tidings>",
        "Content-Type": "multipart/alternative (text/plain, text/html)",
    }
    return [
        {
            "label": request.label,
            "method": "SMTP",
            "url": f"smtp://{shown_host(smtp.host)}:{smtp.server_port}",
            "headers": {k: v for k, v in headers.items() if v},
            "body": request.body["text"],
        }
    ]


CHANNEL = Channel(
    webhook_type=WEBHOOK_TYPE,
    config_key=CONFIG_KEY,
    config_type=MailConfig,
    limits=LIMITS,
    destination=destination,
    render=render,
    render_note=render_note,
    deliver=deliver,
    preview=preview,
    describe=describe,
    sandbox="mail",
    known_as=("email", "smtp"),
    escape=html.escape,
    recipient_fields={"email": "target_users"},
    recipient_entry=recipient_entry,
    check=check,
    needs_system=True,
    deprecated={"target_users": "mail_users"},
    deprecated_required=("mail_users",),
    manual_pause=True,
    pending_stage_line=True,
)
