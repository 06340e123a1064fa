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
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"
CLOCK = os.sysconf("SC_CLK_TCK")

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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK  # utime + stime


def render(dest: Path) -> None:
    subprocess.run(
        [
            str(BIN / "copier"),
            "copy",
            "--trust",
            "--defaults",
            "--skip-tasks",
            "--quiet",
            "--data",
            "project_name=Bench",
            "--data",
            "concerns=orders",
            str(ROOT),
            str(dest),
        ],
        check=True,
    )


def load(url: str, seconds: int, connections: int) -> int:
    """Requests wrk completed against `url` (errors and non-2xx refused)."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    match = re.search(r"(\d+) requests in", out)
    assert match, out
    return int(match.group(1))


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
    database = f"bench_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(scratch) / "bench"
        render(project)
        (project / "run_variant.py").write_text(RUNNER)
        env = os.environ | {
            "DATABASE_URL": f"{SERVER}/{database}",
            "PYTHONPATH": str(project / "src"),
            "ENVIRONMENT": "development",
        }
        env.pop("VIRTUAL_ENV", None)
        subprocess.run(
            [sys.executable, "-m", "bench", "migrate"],
            cwd=project,
            env=env,
            check=True,
            capture_output=True,
        )
        variants = {
            "bare": env,
            "unwatched": env,
            "observed": env,
            "traced": env
            | {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.server_port}"},
        }
        servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
        try:
            for name, variant_env in variants.items():
                port = free_port()
                process = subprocess.Popen(
                    [sys.executable, "run_variant.py", name, str(port)],
                    cwd=project,
                    env=variant_env,
                )
                servers[name] = (process, port)
            for _, port in servers.values():
                base = f"http://127.0.0.1:{port}"
                for _ in range(200):
                    try:
                        httpx.get(f"{base}/health/live")
                        break
                    except httpx.TransportError:
                        time.sleep(0.1)
            process, port = servers["bare"]
            created = httpx.post(
                f"http://127.0.0.1:{port}/orders", json={"name": "bench"}
            )
            created.raise_for_status()
            path = f"/orders/{created.json()['id']}"
            for _, port in servers.values():  # warm up
                load(f"http://127.0.0.1:{port}{path}", 1, options.connections)

            rows: dict[str, list[tuple[float, float]]] = {n: [] for n in servers}
            for round_ in range(options.rounds):
                for name, (process, port) in servers.items():
                    before = cpu_seconds(process.pid)
                    done = load(
                        f"http://127.0.0.1:{port}{path}",
                        options.seconds,
                        options.connections,
                    )
                    cpu = cpu_seconds(process.pid) - before
                    rows[name].append((done / options.seconds, cpu / done * 1e6))
                line = "  ".join(
                    f"{n} {r[-1][0]:7.0f}/s {r[-1][1]:5.0f} µs" for n, r in rows.items()
                )
                print(f"round {round_ + 1}: {line}", flush=True)
        finally:
            for process, _ in servers.values():
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
            sink.shutdown()
            subprocess.run(
                [
                    "psql",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-qc",
                    f"DROP DATABASE IF EXISTS {database}",
                ],
                check=False,
            )

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
