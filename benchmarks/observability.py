"""What observability costs a generated service on its read route.

Renders a project with one database concern, then serves the same app four ways
from the same code, each in a uvicorn process of its own:

- `bare`: request metrics, request ids and the loop-lag monitor removed;
- `unwatched`: as generated but for the loop-lag monitor (what it costs alone);
- `observed`: the service as generated (metrics, request ids, lag monitor;
  tracing off, as it is until OTEL_EXPORTER_OTLP_ENDPOINT is set);
- `traced`: as generated, with tracing on, exporting to a local OTLP sink that
  accepts and drops every batch.

Then it loads `GET /<concern>/{id}` of each with wrk, round after round, the four
interleaved, and prints requests/s and the server's CPU time per request (from
/proc), with each variant's ratio to `bare` per round, and their medians.

    uv run python benchmarks/observability.py [--rounds 7] [--seconds 5]

Needs wrk, PostgreSQL at DATABASE_URL's server (default: the local one). It prints
figures; it judges nothing.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from _common import interleaved, rendered_project, servers

#: Serves `create_app()` of the rendered package as one variant (argv[1]) on a port
#: (argv[2]); `bare` swaps the observability pieces for ones that do nothing.
RUNNER = textwrap.dedent(
    """
    import contextlib, sys
    import uvicorn
    from bench import app as module

    variant, port = sys.argv[1], int(sys.argv[2])
    class Idle:
        def __init__(self, threshold): pass
        def running(self): return contextlib.AsyncExitStack()
    if variant in {"bare", "unwatched"}:
        module.LoopWatch = Idle
    if variant == "bare":
        module.instrument = lambda app: None
    uvicorn.run(
        module.create_app(), host="127.0.0.1", port=port,
        log_level="warning", access_log=False,
    )
    """
)


class Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that accepts every batch and keeps nothing."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, fmt: str, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")

    sink = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    otlp = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.server_port}"}
    try:
        with (
            tempfile.TemporaryDirectory() as scratch,
            rendered_project(Path(scratch), "orders") as (project, env),
        ):
            (project / "run_variant.py").write_text(RUNNER)
            commands = {
                name: ([sys.executable, "run_variant.py", name, "{port}"], env)
                for name in ("bare", "unwatched", "observed")
            }
            commands["traced"] = (
                [sys.executable, "run_variant.py", "traced", "{port}"],
                env | otlp,
            )
            with servers(project, commands) as started:
                created = httpx.post(
                    f"{started['bare'].url}/orders", json={"name": "bench"}
                )
                created.raise_for_status()
                path = f"/orders/{created.json()['id']}"
                rows = interleaved(
                    {n: (f"{s.url}{path}", s.process.pid) for n, s in started.items()},
                    rounds=options.rounds,
                    seconds=options.seconds,
                    connections=options.connections,
                )
    finally:
        sink.shutdown()

    print(
        f"\nGET /orders/{{id}}, wrk -c{options.connections}, "
        f"{options.rounds} rounds of {options.seconds:g} s, medians:"
    )
    for name, measured in rows.items():
        rates = [rate / rows["bare"][i][0] for i, (rate, _) in enumerate(measured)]
        costs = [cpu / rows["bare"][i][1] for i, (_, cpu) in enumerate(measured)]
        print(
            f"  {name:9} {statistics.median(r for r, _ in measured):7.0f} req/s "
            f"({statistics.median(rates):.3f} of bare)  "
            f"{statistics.median(c for _, c in measured):5.0f} µs CPU/request "
            f"({statistics.median(costs):.3f} of bare)"
        )


if __name__ == "__main__":
    main()
