"""The markdown body shared by DingTalk and WeCom (Zadig's layout, specs/zadig.md §3)."""

from __future__ import annotations

from tidings.channels import escape
from tidings.notify.content import Line, Message


def link(text: str, url: str) -> str:
    safe = escape.safe_url(url)
    return f"[{escape.markdown(text)}]({safe})" if safe else escape.markdown(text)


def line(item: Line, prefix: str) -> str:
    value = escape.markdown(item.value, block=item.block)
    links = " ".join(link(text, url) for text, url in item.links)
    shown = " ".join(part for part in (value, links) if part)
    if item.block and "\n" in shown:
        shown = "  \n" + shown
    return f"{prefix}**{item.label}**：{shown}  \n"


def title_text(message: Message) -> str:
    """`👍工作流 name #1 执行成功` with the name escaped."""
    return (
        f"{message.icon}{message.task_type_text} {escape.markdown(message.display_name)} "
        f"#{message.task_id} {message.status_text}"
    )


def body(message: Message, *, prefix: str, job_separator: str) -> str:
    """Info lines, then one block per job; `prefix` starts every line (DingTalk uses '##### ')."""
    out = [line(item, prefix) for item in message.info]
    status_label = message.text("status")
    for job in message.jobs:
        out.append(
            f"{job_separator}{prefix}**{job.type_text}**: {escape.markdown(job.name)}    "
            f"**{status_label}**: {job.status_text}  \n"
        )
        out.extend(line(item, prefix) for item in job.lines)
    if message.hidden_jobs:
        out.append(f"{job_separator}{prefix}{message.hidden_jobs_line()}  \n")
    return "".join(out)
