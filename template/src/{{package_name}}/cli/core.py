"""The commands every service has: serve it, check its dependencies."""

import tempfile
from contextlib import ExitStack
from typing import Annotated

import anyio
import typer
import uvicorn
from pydantic import ValidationError

from ..app import create_app, open_resources
from ..health import ProbeResult, run_probes
from ..observability import keep_metrics_in, logging_config
from ..settings import Settings, get_settings

commands = typer.Typer()
#: Where uvicorn's processes import the app from.
APP_FACTORY = f"{create_app.__module__}:{create_app.__name__}"
#: The prefix of the temporary directories that hold processes' metrics.
METRICS_PREFIX = f"{create_app.__module__.partition('.')[0]}-metrics-"


def load_settings() -> Settings:
    """The settings, or a clear message and exit 2 if they are invalid."""
    try:
        return get_settings()
    except ValidationError as exc:
        typer.secho(
            f"Invalid settings (environment or .env):\n{exc}", err=True, fg="red"
        )
        raise typer.Exit(2) from exc


@commands.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Number of API processes.", min=1)] = 1,
    reload: Annotated[
        bool, typer.Option(help="Restart on code changes (development only).")
    ] = False,
) -> None:
    """Serve the HTTP API with uvicorn."""
    if reload and workers > 1:
        raise typer.BadParameter("--reload runs a single process; drop --workers.")
    settings = load_settings()
    with ExitStack() as stack:
        if workers > 1:
            # Each process keeps its metrics in files here, and /metrics, in
            # whichever process answers it, adds them all up. One process
            # writes no file at all (a read-only container filesystem is fine).
            metrics = tempfile.TemporaryDirectory(prefix=METRICS_PREFIX)
            keep_metrics_in(stack.enter_context(metrics))
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            reload=reload,
            log_level=settings.log_level.lower(),
            log_config=logging_config(settings.log_level, settings.log_format),
            # How long a new process may take to start answering its parent:
            # importing the app takes seconds on a busy or CPU-limited machine,
            # and uvicorn's default of 5 would kill and restart it in a loop.
            timeout_worker_healthcheck=30,
        )


async def _probe_all(settings: Settings) -> list[ProbeResult]:
    async with open_resources(settings) as resources:
        return await run_probes(resources.probes, settings.health_timeout)


@commands.command()
def check() -> None:
    """Check that every dependency is reachable; exit 1 when one is not."""
    settings = load_settings()
    results = anyio.run(_probe_all, settings)
    if not results:
        typer.echo("This service has no external dependencies to check.")
        return
    width = max(len(r.name) for r in results)
    for r in results:
        status = (
            typer.style("ok  ", fg="green") if r.ok else typer.style("DOWN", fg="red")
        )
        line = f"{r.name:<{width}}  {status}  {r.target}"
        typer.echo(line if r.ok else f"{line}\n{'':<{width}}        {r.detail}")
    down = [r.name for r in results if not r.ok]
    if down:
        typer.secho(f"Not reachable: {', '.join(down)}.", err=True, fg="red")
        raise typer.Exit(1)
