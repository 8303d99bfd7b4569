"""Email (邮件通知): one message per address, Zadig's subject and layout (specs/zadig.md §3),
an HTML body with a plain-text alternative, sent over SMTP (SSL, STARTTLS or plain).

A stored request holds the message (subject, from, to, html, text), never the server's
credentials: those come from system.smtp when it is sent. The delivery id becomes the
Message-ID, so a mail sent again after a lost answer can be recognised as the same one.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from tidings.channels import escape, identity
from tidings.channels.base import (
    Destination,
    Fail,
    Limits,
    Ok,
    Outcome,
    RenderContext,
    Request,
    Retry,
)
from tidings.notify import texts
from tidings.notify.content import Line, Message
from tidings.redact import MASK

if TYPE_CHECKING:
    from tidings.config import MailConfig, SmtpSettings, System

WEBHOOK_TYPE = "mail"
LIMITS = Limits()  # servers differ; a refusal for volume is a 4xx, which is retried
_HINTS = {
    530: "the server wants AUTH: set system.smtp.username and password",
    535: "check system.smtp.username and password",
    550: "the server refused the address",
    554: "the server refused the message",
}


def destination(config: MailConfig, system: System | None = None) -> Destination:
    """The mail server is what is addressed; each mailbox is a destination of it of its own
    (its key adds the address, channels.identity)."""
    smtp = system.smtp if system is not None else None
    if smtp is None:
        raise ValueError("system.smtp is no longer configured")
    server = f"{smtp.host}:{smtp.server_port}"
    return Destination(
        key=identity.address_key(WEBHOOK_TYPE, [smtp.host, str(smtp.server_port)]),
        url=f"smtp://{server}",
        secret=smtp.password or None,
        display=f"via {server}",
        options={"smtp": smtp, "ca_file": system.tls.ca_file if system is not None else ""},
    )


def describe(request: Request, destination: Destination) -> str:
    """How history shows one mailbox: `qa@example.com via smtp.example.com:587`."""
    return f"{request.body['to']} {destination.display}"


# --- rendering (pure) ----------------------------------------------------------------------


def subject(message: Message) -> str:
    """`👍 工作流 name#12 执行成功`: one line, whatever the name holds."""
    name = " ".join(message.display_name.split())
    return f"{message.icon} {message.task_type_text} {name}#{message.task_id} {message.status_text}"


def _links_text(item: Line) -> str:
    return " ".join(f"{text} ({url})" for text, url in item.links if escape.safe_url(url))


def _links_html(item: Line) -> str:
    parts = []
    for text, url in item.links:
        safe = escape.safe_url(url)
        if safe:
            parts.append(f'<a href="{html.escape(safe)}">{html.escape(text)}</a>')
    return " ".join(parts)


def _content(message: Message) -> tuple[list[str], list[str]]:
    """The info lines and job blocks, as (text lines, HTML lines)."""
    text: list[str] = []
    markup: list[str] = []

    def line(item: Line) -> None:
        value = item.value.replace("\r\n", "\n")
        shown = " ".join(p for p in (value, _links_text(item)) if p)
        shown_html = " ".join(p for p in (html.escape(value), _links_html(item)) if p)
        newline = "\n" if item.block and "\n" in value else ""
        text.append(f"{item.label}：{newline}{shown}")
        markup.append(f"<b>{html.escape(item.label)}</b>：{newline}{shown_html}")

    for item in message.info:
        line(item)
    status_label = message.text("status")
    for job in message.jobs:
        head = f"{job.type_text}: {job.name}    {status_label}: {job.status_text}"
        text += ["", head]
        markup += [
            "",
            f"<b>{html.escape(job.type_text)}</b>: {html.escape(job.name)}    "
            f"<b>{html.escape(status_label)}</b>: {html.escape(job.status_text)}",
        ]
        for item in job.lines:
            line(item)
    return text, markup


def bodies(message: Message) -> tuple[str, str]:
    """(HTML, plain text) in Zadig's layout: greeting, what ran, link, details, footer."""
    t = texts.TEXTS[message.language]
    intro = t["mail_intro"].format(
        task_type=message.task_type_text, name=message.display_name, id=message.task_id
    )
    url = escape.safe_url(message.url)
    text_lines, html_lines = _content(message)
    plain = [t["mail_greeting"], "", intro, ""]
    if url:
        plain += [f"{message.link_text}: {url}", ""]
    plain += [*text_lines, "", t["mail_footer"]]
    colour = texts.colour(message.status)
    link = (
        f'<p><a href="{html.escape(url)}">{html.escape(message.link_text)}</a></p>\n' if url else ""
    )
    page = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
        '<body style="font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; '
        'font-size: 14px; color: #333;">\n'
        f"<p>{html.escape(t['mail_greeting'])}</p>\n"
        f'<p style="color: {colour};"><b>{html.escape(intro)}</b></p>\n'
        f"{link}"
        '<div style="white-space: pre-wrap; line-height: 1.6; padding: 8px 12px; '
        'background: #f7f8fa; border-radius: 4px;">' + "\n".join(html_lines) + "</div>\n"
        f'<p style="color: #999; font-size: 12px;">{html.escape(t["mail_footer"])}</p>\n'
        "</body></html>\n"
    )
    return page, "\n".join(plain) + "\n"


def render(message: Message, config: MailConfig, ctx: RenderContext) -> list[Request]:
    addresses = (
        ctx.directory.mail_addresses(config.target_users) if ctx.directory is not None else []
    )
    smtp = ctx.system.smtp if ctx.system is not None else None
    page, plain = bodies(message)
    body = {
        "subject": subject(message),
        "from": smtp.sender if smtp is not None else "",
        "html": page,
        "text": plain,
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


# --- sending -------------------------------------------------------------------------------


def email_message(body: dict[str, Any], delivery_id: str) -> Any:
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


def _tls_context(smtp: SmtpSettings, ca_file: str = "") -> Any:
    import ssl

    context = ssl.create_default_context(cafile=smtp.ca_file or None)
    if ca_file:  # system.tls.ca_file: trusted by mail as by HTTP deliveries
        context.load_verify_locations(cafile=ca_file)
    if not smtp.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def connection(smtp: SmtpSettings, timeout: float, ca_file: str = "") -> dict[str, Any]:
    """aiosmtplib keywords for the configured server (AUTH only with a username)."""
    options: dict[str, Any] = {
        "hostname": smtp.host,
        "port": smtp.server_port,
        "timeout": timeout,
        "use_tls": smtp.security == "ssl",
        "start_tls": smtp.security == "starttls",  # False: never upgrade on its own
    }
    if smtp.security != "none":
        options["tls_context"] = _tls_context(smtp, ca_file)
    if smtp.username:
        options.update(username=smtp.username, password=smtp.password)
    return options


async def deliver(
    request: Request, destination: Destination, delivery_id: str, io: Any
) -> tuple[Outcome, int | None]:
    """Send one mail; the SMTP reply decides: 2xx sent, 4xx and lost connections retried,
    5xx failed with the server's own answer."""
    import aiosmtplib

    smtp: SmtpSettings = destination.options["smtp"]
    server = f"{smtp.host}:{smtp.server_port}"
    try:
        _, reply = await aiosmtplib.send(
            email_message(request.body, delivery_id),
            recipients=[request.body["to"]],
            **connection(smtp, io.timeout, destination.options.get("ca_file", "")),
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        refused = exc.recipients[0] if exc.recipients else None
        code = refused.code if refused is not None else 550
        text = refused.message if refused is not None else str(exc)
        return smtp_outcome(code, text, server), None
    except aiosmtplib.SMTPResponseException as exc:
        return smtp_outcome(exc.code, exc.message, server), None
    except aiosmtplib.SMTPNotSupported as exc:
        return Fail(f"{server}: {exc} — check system.smtp.security ({smtp.security})"), None
    except (aiosmtplib.SMTPException, OSError) as exc:
        return _connection_outcome(exc, server), None
    return Ok(f"accepted by {server}: {reply}".strip(), 250), None


def smtp_outcome(code: int, text: str, server: str) -> Outcome:
    """A refusal by its reply code: 4xx is temporary, 5xx permanent (RFC 5321)."""
    answer = f"{server} answered {code} {text}".strip()
    if 400 <= code < 500:
        return Retry(answer, code=code)
    hint = _HINTS.get(code, "")
    return Fail(answer + (f" — {hint}" if hint else ""), code)


def _connection_outcome(exc: BaseException, server: str) -> Outcome:
    import ssl

    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return Fail(
                f"{server}: the server's certificate is not trusted ({cause.verify_message}) — "
                "add its CA to system.tls.ca_file (or set system.smtp.ca_file)"
            )
        cause = cause.__cause__ or cause.__context__
    reason = str(exc) or type(exc).__name__
    return Retry(f"{server}: {reason}")


# --- preview -------------------------------------------------------------------------------


def preview(
    request: Request, destination: Destination, delivery_id: str, now: float
) -> list[dict[str, Any]]:
    """The SMTP session (server, security, login, password masked), headers and text part."""
    smtp: SmtpSettings = destination.options["smtp"]
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
            "url": f"smtp://{smtp.host}:{smtp.server_port}",
            "headers": {k: v for k, v in headers.items() if v},
            "body": request.body["text"],
        }
    ]
