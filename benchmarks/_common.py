"""What the template's benchmarks share: a rendered project with a migrated
database of its own, uvicorn processes to load, wrk to load them, and the CPU
time those processes spent."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"
CLOCK = os.sysconf("SC_CLK_TCK")
PACKAGE = "bench"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User and system CPU time so far of process `pid` and the processes it
    started that still run (a server's worker processes)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = [
            int(child)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()
        ]
    except FileNotFoundError:  # it ended meanwhile
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / CLOCK
    return own + sum(cpu_seconds(child) for child in children)


@contextmanager
def rendered_project(
    scratch: Path, concerns: str
) -> Iterator[tuple[Path, dict[str, str]]]:
    """A project with `concerns`, rendered from this checkout, and the environment
    that runs it against a migrated database of its own (dropped on exit)."""
    project = scratch / PACKAGE
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
            f"concerns={concerns}",
            str(ROOT),
            str(project),
        ],
        check=True,
    )
    database = f"bench_{uuid.uuid4().hex[:8]}"
    env = os.environ | {
        "DATABASE_URL": f"{SERVER}/{database}",
        "PYTHONPATH": str(project / "src"),
        "ENVIRONMENT": "development",
    }
    env.pop("VIRTUAL_ENV", None)
    subprocess.run(
        [sys.executable, "-m", PACKAGE, "migrate"],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
    )
    try:
        yield project, env
    finally:
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-qc",
                f"DROP DATABASE IF EXISTS {database} WITH (FORCE)",
            ],
            check=False,
        )


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def servers(
    project: Path, commands: Mapping[str, tuple[list[str], Mapping[str, str]]]
) -> Iterator[dict[str, Server]]:
    """Each command (argv with `{port}` in it, environment) started in `project`,
    once it answers /health/live; all stopped with SIGTERM on exit."""
    started: dict[str, Server] = {}
    try:
        for name, (argv, env) in commands.items():
            port = free_port()
            process = subprocess.Popen(
                [a.replace("{port}", str(port)) for a in argv], cwd=project, env=env
            )
            started[name] = Server(process, port)
        for server in started.values():
            for _ in range(300):
                try:
                    httpx.get(f"{server.url}/health/live")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
        yield started
    finally:
        for server in started.values():
            server.process.send_signal(signal.SIGTERM)
            server.process.wait(timeout=60)


@dataclass
class Load:
    """What wrk saw."""

    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def _ms(text: str) -> float:
    """wrk's latency figure (`850.12us`, `3.20ms`, `1.10s`, `1.02m`) in ms."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        return float("nan")
    units = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}
    return float(match.group(1)) * units[match.group(2)]


def load(
    url: str,
    seconds: int,
    connections: int,
    *,
    timeout: int = 2,
    errors_ok: bool = False,
) -> Load:
    """`wrk` against `url`; unless `errors_ok`, any error or non-2xx answer is fatal."""
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            f"--timeout={timeout}s",
            "--latency",
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if not errors_ok and (non_2xx or socket_errors):
        raise RuntimeError(f"wrk saw errors:\n{out}")
    done = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    assert done, out
    elapsed = float(done.group(2)) / (1000 if done.group(3) == "ms" else 1)
    p50 = re.search(r"50%\s+(\S+)", out)
    p99 = re.search(r"99%\s+(\S+)", out)
    return Load(
        requests=int(done.group(1)),
        seconds=elapsed,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(map(int, socket_errors.groups())) if socket_errors else 0,
        p50_ms=_ms(p50.group(1)) if p50 else float("nan"),
        p99_ms=_ms(p99.group(1)) if p99 else float("nan"),
    )


Measured = dict[str, list[tuple[float, float]]]


def interleaved(
    targets: Mapping[str, tuple[str, int]],
    *,
    rounds: int,
    seconds: int,
    connections: int,
) -> Measured:
    """wrk against each target's URL in turn, round after round, after a warm-up;
    for each, per round, (requests/s, µs of CPU per request of its process `pid`).
    Each round's figures are printed as they come."""
    for url, _ in targets.values():
        load(url, 1, connections)
    rows: Measured = {name: [] for name in targets}
    for round_ in range(rounds):
        for name, (url, pid) in targets.items():
            before = cpu_seconds(pid)
            done = load(url, seconds, connections)
            cpu = cpu_seconds(pid) - before
            rows[name].append((done.rate, cpu / done.requests * 1e6))
        line = "  ".join(
            f"{n} {r[-1][0]:7.0f}/s {r[-1][1]:5.0f} µs" for n, r in rows.items()
        )
        print(f"round {round_ + 1}: {line}", flush=True)
    return rows
