"""The long-lived clients of one process, and the dependency that hands them out.

Each kind of concern keeps what it talks to in a backend of its own (the
database's engine, the job queue's broker and Redis clients, the shared HTTP
client, ...), defined in that kind's module. `app.open_resources` opens the
service's backends inside the lifespan (never at import time) and closes them on
shutdown; the `check` command opens them the same way.
"""

from collections.abc import Awaitable, Callable, Coroutine, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from opentelemetry.sdk.trace import TracerProvider

from .settings import Settings


@dataclass(frozen=True)
class Probe:
    """A readiness check: `run` raises when `name` (at `target`) is unusable."""

    name: str
    target: str
    run: Callable[[], Awaitable[object]]


#: What `/metrics` awaits before it answers: each sets gauges whose values it
#: must ask a server for (a queue's length), and gives up by itself.
MetricsRefresh = Callable[[], Coroutine[Any, Any, None]]


class Backend:
    """What one kind of concern keeps open while a process runs."""

    def probes(self) -> Iterable[Probe]:
        """The readiness checks of the servers this backend talks to."""
        return ()

    def refreshes(self) -> Iterable[MetricsRefresh]:
        """What `/metrics` must ask those servers before it answers."""
        return ()


#: Opens one kind's backend; with a tracer provider, its calls are traced.
OpenBackend = Callable[
    [Settings, TracerProvider | None], AbstractAsyncContextManager[Backend]
]

B = TypeVar("B", bound=Backend)


@dataclass(frozen=True)
class Resources:
    settings: Settings
    backends: tuple[Backend, ...] = ()

    def get(self, kind: type[B]) -> B:
        """The open backend of `kind` (`resources.get(Database)`)."""
        for backend in self.backends:
            if isinstance(backend, kind):
                return backend
        msg = f"this service has no {kind.__name__}"
        raise LookupError(msg)

    @property
    def probes(self) -> list[Probe]:
        return [probe for backend in self.backends for probe in backend.probes()]

    @property
    def refreshes(self) -> list[MetricsRefresh]:
        return [each for backend in self.backends for each in backend.refreshes()]


async def get_resources(request: Request) -> Resources:
    """The resources the lifespan put in the request's state.

    `async def` although it awaits nothing: FastAPI runs a plain `def`
    dependency in a worker thread, a thread hop on every request.
    """
    resources: Resources = request.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]
