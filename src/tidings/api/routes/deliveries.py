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
    status: Literal["pending", "sent", "failed", "dead"] | None = None,
    workflow: Annotated[str | None, Query(max_length=200)] = None,
    task: Annotated[int | None, Query(ge=0, le=2**31 - 1, description="A task id.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[dict[str, Any]]:
    from tidings.history import list_deliveries as listed

    return await svc.db(
        listed, svc.store, status=status, task_id=task, workflow=workflow, limit=limit
    )


async def _find(svc: Service, delivery_id: str) -> str:
    from tidings.history import find

    try:
        return await svc.db(find, svc.store, delivery_id)
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
    from tidings.history import show

    return await svc.db(show, svc.store, await _find(svc, delivery_id))


@router.post(
    "/retry-dead",
    response_model=RetryOut,
    status_code=202,
    responses=errors(401, 403),
    summary="Queue every dead delivery again",
)
async def retry_dead(svc: Svc, _who: CanSend) -> dict[str, Any]:
    from tidings.history import requeue

    queued = await svc.db(requeue, svc.store, dead=True, max_age=svc.config.system.delivery.max_age)
    svc.wake()
    return {"queued": queued}


@router.post(
    "/{delivery_id}/retry",
    response_model=RetryOut,
    status_code=202,
    responses=errors(401, 403, 404, 409, 422),
    summary="Queue a failed or dead delivery again (same id)",
)
async def retry(
    delivery_id: DeliveryId,
    svc: Svc,
    _who: CanSend,
) -> dict[str, Any]:
    from tidings.history import requeue

    full = await _find(svc, delivery_id)
    queued = await svc.db(requeue, svc.store, [full], max_age=svc.config.system.delivery.max_age)
    if not queued:
        raise ApiError(
            409,
            f"delivery {full} is not failed or dead, or is an ad-hoc notification whose "
            "secrets were never stored: only failed or dead configured deliveries are retried",
        )
    svc.wake()
    return {"queued": queued}
