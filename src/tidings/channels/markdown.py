"""The markdown of Zadig's IM messages, shared by DingTalk, WeCom, Teams and Feishu's lark_md
(instantmessage/workflow_task.go tplTitle / tplBaseInfo, util/workflownotify/job_content.go
jobTplcontent): line for line, with each platform's escaping of the values."""

from __future__ import annotations

from collections.abc import Callable

from tidings.channels import escape
from tidings.notify import texts
from tidings.notify.content import JobBlock, Line, Message

Escape = Callable[..., str]  # escape(text, block=False): a value safe in the markup


def link(text: str, url: str, esc: Escape = escape.markdown) -> str:
    safe = escape.safe_url(url)
    return f"[{esc(text)}]({safe})" if safe else esc(text)


def line(item: Line, prefix: str = "", esc: Escape = escape.markdown) -> str:
    """One line as Zadig writes it, ending in its line break; `prefix` starts it (DingTalk's
    "##### ")."""
    head = f"{prefix}**{item.label}**{item.sep}"
    if item.kind in ("message", "error"):
        parts = item.value.split("\n")
        if len(parts) == 1:
            return f"{head}{esc(item.value, block=True)}{item.tail}\n"
        return head + "\n" + "".join(f"{esc(part, block=True)} \n" for part in parts)
    if item.kind == "list":
        return f"{head}  \n" + "".join(f"{esc(part)}  \n" for part in item.value.split("\n"))
    if item.kind == "report":
        return f"{head}{esc(item.value)}\n  \n" if item.value else f"{head}  \n"
    if item.kind == "metrics" and item.pairs:
        shown = " ".join(f"**{esc(value)}**({label})" for value, label in item.pairs)
        return f"{head}{shown}{item.tail}\n"
    value = esc(item.value)
    if item.links:
        value += " " + " ".join(link(text, url, esc) for text, url in item.links)
    return f"{head}{value}{item.tail}\n"


def title_text(message: Message, esc: Escape = escape.markdown) -> str:
    """`👍工作流 name #1 执行成功` with the name escaped."""
    return (
        f"{message.icon}{message.task_type_text} {esc(message.display_name)} "
        f"#{message.task_id} {message.status_text}"
    )


def heading(message: Message, *, dingtalk: bool = False) -> str:
    """Zadig's title line: `### ` and, on DingTalk, the status colour (the approval message:
    blue and bold)."""
    title = title_text(message)
    if dingtalk and message.approval:
        title = f"<font color={texts.APPROVAL_COLOUR}>**{title}**</font>"
    elif dingtalk:
        title = f'<font color="{texts.colour(message.status)}"><b>{title}</b></font>'
    return f"### {title} \n"


def job_head(job: JobBlock, status_label: str, esc: Escape = escape.markdown) -> str:
    """`**构建**: name    **状态**: 执行成功  \\n` (the approval message: no status)."""
    head = f"**{job.type_text}**: {esc(job.name)}"
    if job.status_text:
        head += f"    **{status_label}**: {job.status_text}"
    return head + "  \n"


def body(message: Message, *, prefix: str = "", job_separator: str = "\n\n") -> str:
    """The info lines, then one block per job (DingTalk: `prefix` "##### " and a rule)."""
    out = [line(item, prefix) for item in message.info]
    status_label = message.text("status")
    for job in message.jobs:
        out.append(job_separator + prefix + job_head(job, status_label))
        out.extend(line(item, prefix) for item in job.lines)
    if message.hidden_jobs:
        out.append(f"{job_separator}{prefix}{message.hidden_jobs_line()}  \n")
    return "".join(out)


def job_block(job: JobBlock, status_label: str, esc: Escape = escape.lark_md) -> str:
    """One job as Feishu's card holds it in a field: no separator, no prefix."""
    return job_head(job, status_label, esc) + "".join(line(item, "", esc) for item in job.lines)
