"""Delivery history: list, one with its attempts, retry (the layers of `tidings deliveries`
and `tidings retry`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from tidings.api.auth import CanRead, CanSend
from tidings.api.errors import ApiError
from tidings.api.routes import Svc, errors
from tidings.api.schemas import DeliveryDetail, DeliveryRow, RetryOut
from tidings.api.service import Service
from tidings.errors import InputError

router = APIRouter(prefix="/api/v1/deliveries", tags=["deliveries"])

DeliveryId = Annotated[
    str,
    Path(
        pattern=r"^[0-9a-f-]{6,36}$",
        description="A delivery id, or its first 6+ characters.",
    ),
]


@router.get(
    "", response_model=list[DeliveryRow], responses=errors(401, 403, 422), summary="Newest first"
)
async def list_deliveries(
    svc: Svc,
    _who: CanRead,
    status: Literal["pending", "sent", "failed", "dead", "coalesced"] | None = None,
    workflow: Annotated[str | None, Query(max_length=200)] = None,
    task: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="A task id.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[dict[str, Any]]:
    from tidings.sending.history import list_deliveries as listed

    return await svc.db(
        listed, svc.store, status=status, task_id=task, workflow=workflow, limit=limit
    )


async def _find(svc: Service, delivery_id: str) -> str:
    from tidings.sending.history import find

    try:
        return await svc.db(find, svc.store, delivery_id, listed_by="GET /api/v1/deliveries")
    except InputError as exc:
        raise ApiError(404, exc.message) from None


@router.get(
    "/{delivery_id}",
    response_model=DeliveryDetail,
    responses=errors(401, 403, 404, 422),
    summary="One delivery: its attempts and the stored request",
)
async def get_delivery(
    delivery_id: DeliveryId,
    svc: Svc,
    _who: CanRead,
) -> dict[str, Any]:
    from tidings.sending.history import show

    return await svc.db(show, svc.store, await _find(svc, delivery_id))


def _can_send(svc: Service) -> Any:
    from tidings.delivery.resolve import Unresolved

    return lambda key: not isinstance(svc.resolver(key), Unresolved)


_REPLAN = "retrying it with replan=true"
Replan = Annotated[
    bool,
    Query(
        description="Plan the event again with today's configuration and send it wherever it "
        "has not arrived (new deliveries), instead of sending the stored request again."
    ),
]


async def _replan(svc: Service, ids: list[str]) -> dict[str, Any]:
    import time

    from tidings.sending.replan import replan

    done = await svc.db(
        replan,
        svc.store,
        svc.config,
        ids,
        now=time.time(),
        expires_in=svc.config.system.delivery.max_age,
    )
    svc.wake()
    return {"queued": done.delivery_ids, "not_queued": done.notes}


@router.post(
    "/retry-dead",
    response_model=RetryOut,
    status_code=202,
    responses=errors(401, 403),
    summary="Queue every dead delivery again",
)
async def retry_dead(svc: Svc, _who: CanSend, replan: Replan = False) -> dict[str, Any]:
    from tidings.sending.history import dead_ids, requeue

    if replan:
        return await _replan(svc, await svc.db(dead_ids, svc.store))
    queued, left = await svc.db(
        requeue,
        svc.store,
        dead=True,
        max_age=svc.config.system.delivery.max_age,
        can_send=_can_send(svc),
    )
    svc.wake()
    return {"queued": queued, "not_queued": [item.explain(_REPLAN) for item in left]}


@router.post(
    "/{delivery_id}/retry",
    response_model=RetryOut,
    status_code=202,
    responses=errors(401, 403, 404, 409, 422),
    summary="Queue a failed or dead delivery again (same id), or re-plan its event",
)
async def retry(
    delivery_id: DeliveryId,
    svc: Svc,
    _who: CanSend,
    replan: Replan = False,
) -> dict[str, Any]:
    from tidings.sending.history import requeue

    full = await _find(svc, delivery_id)
    if replan:
        done = await _replan(svc, [full])
        if not done["queued"]:
            raise ApiError(409, "; ".join(done["not_queued"]) or "nothing to send")
        return done
    queued, left = await svc.db(
        requeue,
        svc.store,
        [full],
        max_age=svc.config.system.delivery.max_age,
        can_send=_can_send(svc),
    )
    if left:
        raise ApiError(409, left[0].explain(_REPLAN))
    if not queued:
        raise ApiError(409, f"delivery {full} is not failed or dead: only those are retried")
    svc.wake()
    return {"queued": queued}
