"""The database read path of a generated service against the framework and the
driver, and how the service behaves when more clients come than it can serve.

Renders a project with one database concern and serves it with uvicorn (uvloop,
httptools, access log off, as `serve` does in production), or Granian (one
worker, uvloop), or both, each in a process of its own. For the measurement
only, two routes are added to the same app in the same process:

- `/bench/bare`: an `async def` route returning a constant (the framework's floor);
- `/bench/raw/{id}`: the same primary-key read as `GET /orders/{id}`, with raw
  asyncpg from a pool of the service's size, its row returned as a dict.

Round after round, interleaved, wrk loads `GET /orders/{id}` (the generated
route), the bare route and the raw route of each server at --connections; the script prints
requests/s and the server's CPU time per request, and the generated route's ratio
to the raw one per round, with medians. Then a raw asyncpg loop without HTTP
(64 tasks, the same pool size), and the overload runs: the generated route at 64,
256 and 1,024 connections, with wrk's timeout longer than the service's own wait
budget, counting errors and 503s.

    uv run python benchmarks/read_path.py [--rounds 5] [--seconds 5]
    uv run --group bench python benchmarks/read_path.py --server uvicorn granian

Needs wrk and PostgreSQL at 127.0.0.1:5432. It prints figures; it judges nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import asyncpg
import httpx
from _common import interleaved, load, rendered_project, servers

#: Serves `create_app()` of the rendered package with the two extra routes, on
#: the port given in argv[1], with the server named in argv[2].
RUNNER = textwrap.dedent(
    """
    import asyncio, sys
    import asyncpg
    from bench.app import create_app
    from bench.settings import get_settings

    settings = get_settings()
    app = create_app(settings)
    pool = None
    opening = asyncio.Lock()

    @app.get("/bench/bare")
    async def bare() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/bench/raw/{order_id}")
    async def raw(order_id: int) -> dict[str, object]:
        global pool
        async with opening:
            if pool is None:
                dsn = settings.database_url.replace("+asyncpg", "")
                size = settings.database_pool_size
                pool = await asyncpg.create_pool(dsn, min_size=size, max_size=size)
        row = await pool.fetchrow(
            "SELECT id, name, description, created_at, updated_at"
            " FROM orders WHERE id = $1", order_id
        )
        return dict(row)

    if __name__ == "__main__":
        port, server = int(sys.argv[1]), sys.argv[2]
        if server == "granian":
            from granian import Granian
            Granian("run_bench:app", address="127.0.0.1", port=port, interface="asgi",
                    loop="uvloop", workers=1, log_access=False).serve()
        else:
            import uvicorn
            uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning",
                        access_log=False, loop="uvloop", http="httptools")
    """
)


async def raw_loop(dsn: str, size: int, row_id: int, seconds: float) -> float:
    """Primary-key reads per second from 64 tasks over a pool of `size`."""
    pool = await asyncpg.create_pool(dsn, min_size=size, max_size=size)
    done = 0
    deadline = time.perf_counter() + seconds

    async def reader() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await pool.fetchrow(
                "SELECT id, name, description, created_at, updated_at"
                " FROM orders WHERE id = $1",
                row_id,
            )
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(reader() for _ in range(64)))
    rate = done / (time.perf_counter() - started)
    await pool.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--server",
        choices=["uvicorn", "granian"],
        nargs="+",
        default=["uvicorn"],
        help="one server, or several: each serves the app, all interleaved",
    )
    parser.add_argument(
        "--overload",
        type=int,
        nargs="*",
        default=[64, 256, 1024],
        help="connection counts of the overload runs (none: skip them)",
    )
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")

    with (
        tempfile.TemporaryDirectory() as scratch,
        rendered_project(Path(scratch), "orders") as (project, env),
    ):
        (project / "run_bench.py").write_text(RUNNER)
        commands = {
            name: ([sys.executable, "run_bench.py", "{port}", name], env)
            for name in options.server
        }
        with servers(project, commands) as started:
            first = next(iter(started.values()))
            created = httpx.post(f"{first.url}/orders", json={"name": "bench"})
            created.raise_for_status()
            row_id = created.json()["id"]
            routes = {
                "generated": f"/orders/{row_id}",
                "bare": "/bench/bare",
                "raw": f"/bench/raw/{row_id}",
            }
            rows = interleaved(
                {
                    f"{server} {route}": (f"{api.url}{path}", api.process.pid)
                    for server, api in started.items()
                    for route, path in routes.items()
                },
                rounds=options.rounds,
                seconds=options.seconds,
                connections=options.connections,
            )

            print(
                f"\nwrk -c{options.connections}, "
                f"{options.rounds} rounds of {options.seconds} s, medians:"
            )
            for name, measured in rows.items():
                raw = rows[f"{name.split()[0]} raw"]
                ratios = [rate / raw[i][0] for i, (rate, _) in enumerate(measured)]
                print(
                    f"  {name:17} "
                    f"{statistics.median(r for r, _ in measured):7.0f} req/s"
                    f" ({statistics.median(ratios):.3f} of raw)  "
                    f"{statistics.median(c for _, c in measured):5.0f} µs CPU/request"
                )

            dsn = env["DATABASE_URL"].replace("+asyncpg", "")
            rate = asyncio.run(raw_loop(dsn, 15, row_id, options.seconds))
            print(f"  raw asyncpg without HTTP, 64 tasks, pool 15: {rate:7.0f} q/s")

            for server, api in started.items():
                if options.overload:
                    print(
                        f"\noverload, {server}, GET /orders/{{id}}, wrk --timeout 30s:"
                    )
                for connections in options.overload:
                    seen = load(
                        f"{api.url}{routes['generated']}",
                        10,
                        connections,
                        timeout=30,
                        errors_ok=True,
                    )
                    print(
                        f"  -c{connections:<5} {seen.rate:7.0f} req/s"
                        f"  p50 {seen.p50_ms:7.1f} ms  p99 {seen.p99_ms:7.1f} ms"
                        f"  non-2xx {seen.non_2xx}  socket errors {seen.socket_errors}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
