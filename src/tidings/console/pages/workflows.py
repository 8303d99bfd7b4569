"""Workflows: each one's notify_ctls as readable rules, its stages, and what `tidings check`
says of it (the configuration this server runs, and on request the file on disk now)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tidings.console import rules
from tidings.console.views import Views
from tidings.errors import InputError, Problem

router = APIRouter()


def _check_disk(source: str) -> tuple[bool, list[Problem], list[Problem]]:
    """`tidings check` of the file as it is on disk now: (valid, problems, warnings)."""
    from tidings.config.loading import load

    try:
        config = load(source)
    except InputError as exc:
        return False, exc.problems or [Problem("", exc.message)], []
    return True, [], config.warnings


@router.get("/workflows", response_class=HTMLResponse)
async def workflows(request: Request) -> HTMLResponse:
    views: Views = request.app.state.views
    session = views.viewer(request)
    config = views.service.config
    shown, loose = rules.workflows(config)
    disk: dict[str, Any] | None = None
    if request.query_params.get("check") == "disk" and config.source:
        valid, problems, warnings = await asyncio.to_thread(_check_disk, config.source)
        disk = {
            "valid": valid,
            "problems": rules.by_workflow(problems, config),
            "warnings": warnings,
        }
    return views.page(
        "workflows.html",
        request,
        session,
        workflows=shown,
        loose=loose,
        disk=disk,
        source=config.source,
    )
