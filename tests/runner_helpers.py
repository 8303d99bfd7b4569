"""Helpers of the runner tests: a workflow configuration in a file, a run in this process."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

from tidings.config.loading import load
from tidings.runner.engine import Result, RunOptions, run_here
from tidings.runner.observer import Observer
from tidings.store.db import Store


def write_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "tidings.yaml"
    path.write_text(textwrap.dedent(text), "utf-8")
    return str(path)


def hook_ctl(address: str, statuses: str) -> str:
    """A one-line webhook notify_ctl (flow YAML) for the given statuses, e.g. `created, passed`."""
    return (
        f"{{webhook_type: webhook, notify_type: [{statuses}], "
        f"webhook_notification_config: {{address: '{address}'}}}}"
    )


def run_workflow(
    tmp_path: Path,
    config_path: str,
    workflow: str = "wf",
    observer: Observer | None = None,
    **options: Any,
) -> Result:
    """Run a workflow in this process, with its database and run directories in tmp_path."""
    config = load(config_path)
    store = Store(f"sqlite:///{tmp_path}/tidings.db").open()
    opts = RunOptions(home=tmp_path / "home", handle_sigint=False, delivery_wait=10, **options)
    try:
        return asyncio.run(run_here(config, config.workflow(workflow), store, opts, observer))
    finally:
        store.close()


def statuses(received: list) -> list[str]:
    """The task statuses a webhook inbox received, in arrival order (accepted ones)."""
    return [r.body["workflow"]["status"] for r in received if r.accepted]
