"""The web console of `tidings serve` (docs/console.md): overview, workflows, tasks (live),
deliveries, previews as each platform shows them; signed in with an API token.

Imported only when `tidings serve` builds its app: `tidings --help` and `tidings notify` never
load it.
"""

from __future__ import annotations

from typing import Any


def with_console(api: Any) -> Any:
    """The API app `api` (tidings.api.app.create_app) with the console's pages beside it."""
    from tidings.console.app import build

    return build(api)
