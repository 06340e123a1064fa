"""Liveness and readiness.

`/health/live` answers as long as the process serves requests; it touches no
dependency, so an orchestrator never restarts the API because Redis blinked.
`/health/ready` probes every dependency concurrently and answers 503, naming
what is down, when any probe fails.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Literal

import anyio
from fastapi import APIRouter
from pydantic import BaseModel, Field

from .errors import ServiceUnavailableError, problem_responses
from .resources import Probe, ResourcesDep


@dataclass(frozen=True)
class ProbeResult:
    name: str
    target: str
    ok: bool
    detail: str


def describe(exc: BaseException) -> str:
    """A one-line reason for a failed probe."""
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


async def run_probes(probes: Sequence[Probe], seconds_each: float) -> list[ProbeResult]:
    """Run every probe at once, each bounded by `seconds_each` seconds."""
    results: dict[str, ProbeResult] = {}

    async def run(probe: Probe) -> None:
        try:
            with anyio.fail_after(seconds_each):
                await probe.run()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            results[probe.name] = ProbeResult(
                probe.name, probe.target, ok=False, detail=describe(exc)
            )
        else:
            results[probe.name] = ProbeResult(
                probe.name, probe.target, ok=True, detail="ok"
            )

    async with anyio.create_task_group() as group:
        for probe in probes:
            group.start_soon(run, probe)
    return [results[probe.name] for probe in probes]


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ok"] = "ok"
    checks: dict[str, str] = Field(examples=[{"database": "ok"}])


router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", status_code=HTTPStatus.OK)
async def read_liveness() -> Liveness:
    return Liveness()


@router.get(
    "/ready",
    status_code=HTTPStatus.OK,
    responses=problem_responses(
        (HTTPStatus.SERVICE_UNAVAILABLE, "A dependency is down; `checks` says which.")
    ),
)
async def read_readiness(resources: ResourcesDep) -> Readiness:
    results = await run_probes(resources.probes, resources.settings.health_timeout)
    checks = {r.name: r.detail for r in results}
    down = [r for r in results if not r.ok]
    if down:
        raise ServiceUnavailableError(
            "Not ready: " + "; ".join(f"{r.name} is down ({r.detail})" for r in down),
            checks=checks,
        )
    return Readiness(checks=checks)
