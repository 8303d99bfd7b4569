"""Property-based run of the API's own OpenAPI document (schemathesis) against a live server:
no 5xx, every status, content type and body as documented. Bounded to seconds."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api_helpers import ADMIN, ApiServer, tokens_yaml

# Headers that frame the request itself: a malformed one (`content-length: D`) is refused by
# the HTTP parser (uvicorn's 400) before the API sees the request, so it is no case of the API's
# document. Which cases negative generation reaches varies with the process's state.
FRAMING = {"content-length", "transfer-encoding", "host", "connection", "expect"}

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    home = tmp_path_factory.mktemp("schema")
    config = home / "tidings.yaml"
    config.write_text(
        "system:\n" + tokens_yaml() + "workflows:\n  - name: release\n    notify_ctls:\n"
        "      - {webhook_type: webhook, notify_type: [failed],"
        " webhook_notification_config: {address: 'http://127.0.0.1:9/hook'}}\n",
        "utf-8",
    )
    # Without a worker: whatever the generated data records is never sent anywhere.
    with ApiServer(str(config), home, worker=False) as server:
        yield server


def _operations(base: str) -> list:
    loaded = schemathesis.openapi.from_url(f"{base}/openapi.json")
    return [result.ok() for result in loaded.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_openapi_document_holds(live, mode):
    headers = {"Authorization": f"Bearer {ADMIN}"}
    operations = _operations(live.base)
    assert len(operations) >= 19
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=10,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case) -> None:
            assume(not FRAMING & {name.lower() for name in case.headers or {}})
            case.call_and_validate(base_url=live.base, headers=headers, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            # No invalid input exists for it (no parameters, no body): nothing to negate.
            assert mode is GenerationMode.NEGATIVE, operation.label
