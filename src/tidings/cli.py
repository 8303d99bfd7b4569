"""The `tidings` command. Thin: parse input, call the layers below, print results.

Start-up time is a feature: only click is imported at module level; each command imports
what it needs when it runs.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from tidings import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Group(click.Group):
    """Turns expected errors into a clear message and exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from_errors = None
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:
            # The reader went away (`tidings logs ... | head`): not an error of ours.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except Exception as exc:  # reported below, never as a traceback
            from_errors = exc
        from tidings.commands.common import CommandError
        from tidings.errors import InputError

        if isinstance(from_errors, InputError):
            _print_input_error(from_errors)
            sys.exit(EXIT_USAGE)
        if isinstance(from_errors, CommandError):
            click.echo(f"error: {from_errors}", err=True)
            sys.exit(EXIT_FAILED)
        if os.environ.get("TIDINGS_DEBUG"):
            raise from_errors
        click.echo(
            f"error: {type(from_errors).__name__}: {from_errors} "
            "(set TIDINGS_DEBUG=1 for details and report it)",
            err=True,
        )
        sys.exit(EXIT_FAILED)


def _print_input_error(error: Any) -> None:
    from tidings.commands.output import Output

    out = Output()
    for index, line in enumerate(error.lines()):
        out.err(("error: " if index == 0 else "") + line, fg="red" if index == 0 else None)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tidings")
def main() -> None:
    """tidings: workflow notifications to DingTalk, WeCom, Feishu, email, Teams and webhooks.

    Zadig-compatible notify_ctls, retried until delivered, signed, with secrets kept out of
    every output. Exit codes: 0 done, 1 a delivery failed, 2 bad input.
    """


config_option = click.option(
    "-c",
    "--config",
    "config_path",
    metavar="FILE",
    help="Configuration file (default: $TIDINGS_CONFIG, else ./tidings.yaml).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
deadline_option = click.option(
    "--deadline",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Keep retrying failed sends for at most this long.",
)


def _event_options(func: Any) -> Any:
    options = [
        config_option,
        click.option(
            "-w",
            "--workflow",
            metavar="NAME",
            help="Configured workflow (default: the snapshot's workflow_name).",
        ),
        click.option(
            "-t",
            "--task",
            "task_path",
            required=True,
            metavar="TASK.json",
            help="Task snapshot: Zadig's webhook `workflow` object or whole payload; - for stdin.",
        ),
        click.option(
            "--status", metavar="S", help="Status of the event (default: the snapshot's)."
        ),
        click.option(
            "--previous-status",
            metavar="S",
            help="Status of the workflow's previous task, for `changed` rules.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@main.command()
@config_option
@json_option
def check(config_path: str | None, as_json: bool) -> None:
    """Validate the configuration; print a short summary."""
    from tidings.commands import check as command

    sys.exit(command.run(config_path, as_json))


@main.command()
@_event_options
@click.option(
    "--digest",
    type=click.IntRange(min=1, max=10000),
    metavar="N",
    help="Show instead the digests a rate-limited robot gets when N events like this one "
    "(task ids counting up from its own) wait in its backlog and are merged.",
)
@json_option
def preview(
    config_path: str | None,
    workflow: str | None,
    task_path: str,
    status: str | None,
    previous_status: str | None,
    digest: int | None,
    as_json: bool,
) -> None:
    """Print every request `send` would make (secrets redacted); send nothing."""
    from tidings.commands import send as command

    sys.exit(
        command.preview(config_path, workflow, task_path, status, previous_status, as_json, digest)
    )


@main.command()
@_event_options
@deadline_option
@click.option(
    "--wait/--no-wait",
    default=True,
    help="Deliver now and report (default), or only record them for `tidings worker`.",
)
@click.option(
    "--event-id",
    metavar="ID",
    help="Your CI's id of this event (e.g. its run attempt): one id is notified once.",
)
@click.option(
    "--again",
    is_flag=True,
    help="Notify even if this event (workflow, task, status) was notified before.",
)
@json_option
def send(
    config_path: str | None,
    workflow: str | None,
    task_path: str,
    status: str | None,
    previous_status: str | None,
    deadline: float,
    wait: bool,
    event_id: str | None,
    again: bool,
    as_json: bool,
) -> None:
    """Record the notifications of a task event, then deliver them; one line per delivery.

    An event is notified once: sending the same workflow, task id and status again (a re-run
    CI step) says `already sent` and sends nothing, unless --again."""
    from tidings.commands import send as command

    sys.exit(
        command.send(
            config_path,
            workflow,
            task_path,
            status,
            previous_status,
            deadline,
            wait,
            as_json,
            event_id=event_id,
            again=again,
        )
    )


@main.command()
@click.option(
    "--type",
    "webhook_type",
    metavar="TYPE",
    help="Channel: a webhook_type one address describes, e.g. dingding, wechat, feishu.",
)
@click.option(
    "--hook-address",
    metavar="URL",
    envvar="TIDINGS_HOOK_ADDRESS",
    show_envvar=True,
    help="Robot or webhook address.",
)
@click.option(
    "--secret",
    metavar="S",
    envvar="TIDINGS_SECRET",
    show_envvar=True,
    help="DingTalk 加签 or Feishu signature secret (prefer the variable: argv is visible).",
)
@click.option(
    "--token",
    metavar="T",
    envvar="TIDINGS_TOKEN",
    show_envvar=True,
    help="X-Zadig-Token for --type webhook.",
)
@click.option(
    "--at",
    "at",
    multiple=True,
    metavar="ID",
    help="Mention: a mobile (dingding), user id (wechat, feishu), email (msteams)... Repeatable.",
)
@click.option("--at-all", is_flag=True, help="Mention everyone.")
@click.option("--title", metavar="T", help="Title.")
@click.option("--content", metavar="TEXT", help="Content (markdown); - reads standard input.")
@click.option("--url", metavar="URL", help="Link shown as 点击查看更多信息.")
@click.option(
    "--spec",
    "spec_path",
    metavar="FILE",
    help="A notification job spec (YAML or JSON, Zadig's fields) instead of the flags above.",
)
@click.option(
    "--language",
    type=click.Choice(["zh-cn", "en-us"]),
    default="zh-cn",
    show_default=True,
)
@deadline_option
@click.option("--dry-run", is_flag=True, help="Print the request instead of sending it.")
@json_option
def notify(**options: Any) -> None:
    """Send one ad-hoc message to one channel (a notification step for any CI system).

    \b
    tidings notify --type dingding --hook-address URL --secret S --at 138... \\
                   --title "发布完成" --content "工作流 release #12 已上线"
    tidings notify --spec notify-qa.yaml
    """
    from tidings.commands import notify as command

    sys.exit(command.run(**options))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8900, show_default=True, type=int)
def sandbox(host: str, port: int) -> None:
    """Run the platform simulators in the foreground and print each message received."""
    from tidings.commands import sandbox as command

    sys.exit(command.run(host, port))


@main.command()
@click.option(
    "--language",
    type=click.Choice(["zh-cn", "en-us"]),
    default="zh-cn",
    show_default=True,
)
def demo(language: str) -> None:
    """Send an example task through every channel to the built-in sandbox and show the result."""
    from tidings.commands import demo as command

    sys.exit(command.run(language))


@main.command()
@config_option
@click.option("--concurrency", type=click.IntRange(min=1), help="Destinations sent to at once.")
@click.option(
    "--metrics-port", type=int, metavar="PORT", help="Serve Prometheus metrics on this port."
)
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One line per finished delivery, and per destination paused or resumed, on stderr: "
    "key=value or JSON.",
)
def worker(
    config_path: str | None,
    concurrency: int | None,
    metrics_port: int | None,
    once: bool,
    log_format: str,
) -> None:
    """Deliver what the outbox holds, until SIGTERM or Ctrl-C (then finish what is in flight).

    Run several, on several machines, against one PostgreSQL database to share the load.
    """
    from tidings.commands import worker as command

    sys.exit(command.run(config_path, concurrency, metrics_port, once, log_format))


@main.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--no-worker",
    is_flag=True,
    help="Only record deliveries; `tidings worker` processes send them (/notify is refused).",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines on stderr (start-up, each request, each delivery): key=value or JSON.",
)
def serve(
    config_path: str | None,
    host: str,
    port: int,
    no_worker: bool,
    log_level: str,
    log_format: str,
) -> None:
    """Serve the HTTP API (docs/api.md), delivering in the same process unless --no-worker.

    Stops gracefully on SIGTERM or Ctrl-C.
    """
    from tidings.commands import serve as command

    sys.exit(command.run(config_path, host, port, no_worker, log_level, log_format))


@main.group(invoke_without_command=True)
@config_option
@click.option(
    "--status",
    type=click.Choice(["pending", "sent", "failed", "dead", "coalesced"]),
    help="Only deliveries in this state (coalesced: merged into a digest).",
)
@click.option("--task", type=int, metavar="ID", help="Only deliveries of this task id.")
@click.option("-w", "--workflow", metavar="NAME", help="Only deliveries of this workflow.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@json_option
@click.pass_context
def deliveries(
    ctx: click.Context,
    config_path: str | None,
    status: str | None,
    task: int | None,
    workflow: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The delivery history, newest first; `deliveries show ID` for one in full."""
    if ctx.invoked_subcommand is not None:
        return
    from tidings.commands import history as command

    sys.exit(command.list_command(config_path, status, task, workflow, limit, as_json))


@deliveries.command("show")
@config_option
@click.argument("delivery_id", metavar="ID")
@json_option
def deliveries_show(config_path: str | None, delivery_id: str, as_json: bool) -> None:
    """One delivery: its attempts with times and platform codes, and the stored request."""
    from tidings.commands import history as command

    sys.exit(command.show_command(config_path, delivery_id, as_json))


@main.command()
@config_option
@click.argument("ids", nargs=-1, metavar="[ID]...")
@click.option("--dead", is_flag=True, help="Retry every dead delivery.")
@click.option(
    "--replan",
    is_flag=True,
    help="Plan their events again with today's configuration and send them wherever they "
    "have not arrived (for a destination removed or edited since they were queued).",
)
@deadline_option
@click.option("--wait/--no-wait", default=True, help="Deliver now, or leave it to a worker.")
@json_option
def retry(
    config_path: str | None,
    ids: tuple[str, ...],
    dead: bool,
    replan: bool,
    deadline: float,
    wait: bool,
    as_json: bool,
) -> None:
    """Send failed or dead deliveries again (same ids, so receivers can still deduplicate)."""
    from tidings.commands import history as command

    sys.exit(command.retry_command(config_path, ids, dead, replan, deadline, wait, as_json))


@main.group()
def db() -> None:
    """The database (history and queue)."""


@db.command("upgrade")
@config_option
def db_upgrade(config_path: str | None) -> None:
    """Apply schema migrations (tidings also does this whenever it opens the database)."""
    from tidings.commands import history as command

    sys.exit(command.db_upgrade(config_path))


@main.command()
@config_option
@click.argument("workflow", metavar="WORKFLOW")
@click.option("--creator", metavar="USER_ID", help="Configured user who starts the task.")
@click.option("--remark", default="", metavar="TEXT", help="Shown as 备注 in the messages.")
@click.option(
    "--var", "var", multiple=True, metavar="NAME=VALUE", help="A variable: {{.var.NAME}}, $NAME."
)
@click.option(
    "--delivery-wait",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="At the end, wait this long for the task's notifications to be delivered.",
)
@json_option
def run(
    config_path: str | None,
    workflow: str,
    creator: str | None,
    remark: str,
    var: tuple[str, ...],
    delivery_wait: float,
    as_json: bool,
) -> None:
    """Run a configured workflow here: stages, jobs and every notification (docs/runner.md).

    Ctrl-C cancels the task. Exit 0 when it passed, 1 otherwise.
    """
    from tidings.commands import run as command

    sys.exit(command.run(config_path, workflow, creator, remark, var, delivery_wait, as_json))


@main.command()
@config_option
@click.argument("workflow", required=False, metavar="[WORKFLOW]")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@json_option
def tasks(config_path: str | None, workflow: str | None, limit: int, as_json: bool) -> None:
    """Tasks, newest first: those `tidings run` ran and snapshots `send` received."""
    from tidings.commands import tasks as command

    sys.exit(command.list_command(config_path, workflow, limit, as_json))


_TASK_HELP = "TASK is WORKFLOW#ID (e.g. release#12), or WORKFLOW for its latest task."


@main.command(epilog=_TASK_HELP)
@config_option
@click.argument("task", metavar="TASK")
@click.argument("job", required=False, metavar="[JOB]")
@json_option
def logs(config_path: str | None, task: str, job: str | None, as_json: bool) -> None:
    """The log of a job of a task (every job when JOB is not given)."""
    from tidings.commands import tasks as command

    sys.exit(command.logs_command(config_path, task, job, as_json))


@main.command(epilog=_TASK_HELP)
@config_option
@click.argument("task", metavar="TASK")
@click.option(
    "--user", default="", metavar="USER_ID", help="Who cancels (the task's error names them)."
)
@json_option
def cancel(config_path: str | None, task: str, user: str, as_json: bool) -> None:
    """Cancel a running task; its runner stops its jobs and sends the cancelled notification."""
    from tidings.commands import tasks as command

    sys.exit(command.cancel_command(config_path, task, user, as_json))


def _decision(name: str, decision: str, help_text: str) -> None:
    @main.command(name, help=help_text, epilog=_TASK_HELP)
    @config_option
    @click.argument("task", metavar="TASK")
    @click.option("--user", required=True, metavar="USER_ID", help="A listed approver.")
    @click.option("--comment", default="", metavar="TEXT")
    @json_option
    def command(config_path: str | None, task: str, user: str, comment: str, as_json: bool) -> None:
        from tidings.commands import tasks as module

        sys.exit(module.decide_command(config_path, task, user, comment, decision, as_json))


@main.command("run-stage", epilog=_TASK_HELP)
@config_option
@click.argument("task", metavar="TASK")
@click.option("--user", required=True, metavar="USER_ID", help="One of its manual_exec_users.")
@json_option
def run_stage(config_path: str | None, task: str, user: str, as_json: bool) -> None:
    """Run the manual stage a task is paused before (Zadig's 手动执行)."""
    from tidings.commands import tasks as command

    sys.exit(command.run_stage_command(config_path, task, user, as_json))


_decision("approve", "approve", "Approve the approval job a task waits for.")
_decision(
    "reject", "reject", "Reject the approval job a task waits for: the task ends with reject."
)
