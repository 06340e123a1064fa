"""Helpers for testing the template (its tests import them from here; the
fixtures are in conftest.py, which pytest advises tests not to import).

Rendering goes through copier's Python API (the same code path as the CLI) from a
snapshot of the working tree, so the tests see uncommitted changes and no git
state leaks in. Generated projects are checked with the tools of this
environment, which holds every dependency a generated project can have.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
import pytest

ROOT = Path(__file__).resolve().parent.parent
#: What copier needs of this repository to render a project.
TEMPLATE_PARTS = ("copier.yml", "template", "includes", "hooks")
BIN = Path(sys.executable).parent

#: Answers that make copier ask nothing.
BASE_ANSWERS: dict[str, Any] = {"project_name": "Order Service"}


def snapshot_template(dest: Path) -> Path:
    """Copy the template's files (not its git history) to `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in TEMPLATE_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(
                source, dest / part, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(source, dest / part)
    return dest


@dataclass
class Renderer:
    template: Path
    base: Path
    counter: int = 0

    def __call__(
        self,
        answers: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        skip_tasks: bool = True,
    ) -> Path:
        """Render a project with `answers` (on top of BASE_ANSWERS), defaults for the rest."""
        self.counter += 1
        dest = self.base / (name or f"project{self.counter}")
        copier.run_copy(
            str(self.template),
            dest,
            data={**BASE_ANSWERS, **(answers or {})},
            defaults=True,
            unsafe=True,
            skip_tasks=skip_tasks,
            quiet=True,
        )
        return dest


def worker_index() -> int:
    """0 for the first pytest-xdist worker (or no xdist), 1 for the next, ..."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))


def service_env(project: Path) -> dict[str, str]:
    """Environment for a generated project's own tools and tests.

    Each xdist worker uses a Redis database number of its own, and the generated
    tests create their own PostgreSQL database and queue names, so parallel runs
    cannot see each other's state.
    """
    env = dict(os.environ)
    for key in ("DATABASE_URL", "BROKER_URL", "REDIS_URL", "ENVIRONMENT"):
        env.pop(key, None)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(project / "src")
    env["DATABASE_URL"] = os.environ.get(
        "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    env["BROKER_URL"] = os.environ.get(
        "TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//"
    )
    redis_base = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
    env["REDIS_URL"] = f"{redis_base.rstrip('/')}/{1 + worker_index()}"
    env["MYPY_CACHE_DIR"] = str(
        Path(tempfile.gettempdir()) / f"template-mypy-cache-{worker_index()}"
    )
    env.pop("VIRTUAL_ENV", None)
    return env


def run(
    args: list[str],
    project: Path,
    *,
    timeout: float = 1200,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command in `project` (in `service_env(project)` unless `env` is
    given); fail the test with its output if it fails.

    `timeout` only catches a hang: it is far above what a command takes on a busy
    two-core machine. The command runs in a session of its own, so at the timeout
    every process it started (a suite's Celery workers) is killed with it."""
    with subprocess.Popen(
        args,
        cwd=project,
        env=service_env(project) if env is None else env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            pytest.fail(
                f"`{' '.join(args)}` did not end within {timeout:.0f} s in "
                f"{project.name}:\n{stdout[-6000:]}\n{stderr[-4000:]}",
                pytrace=False,
            )
    result = subprocess.CompletedProcess(args, process.returncode, stdout, stderr)
    if result.returncode != 0:
        pytest.fail(
            f"`{' '.join(args)}` failed in {project.name} (exit {result.returncode}):\n"
            f"{result.stdout[-6000:]}\n{result.stderr[-4000:]}",
            pytrace=False,
        )
    return result


def check_project(project: Path) -> None:
    """The project's formatter, linter and type checker pass, as its own
    configuration sets them (a generated project, or this repository)."""
    run([str(BIN / "ruff"), "format", "--check", "."], project)
    run([str(BIN / "ruff"), "check", "."], project)
    run([str(BIN / "mypy")], project)


def run_project_tests(
    project: Path, *, faults: bool = True, timeout: float = 1200
) -> None:
    """The generated project's own test suite passes against real services, every
    test of it: a skipped test (no RabbitMQ server to restart, say) is a failure here.
    With `faults=False` the tests marked `faults` (servers stopped, stalled and
    restarted: the slow ones) are left out."""
    select = [] if faults else ["-m", "not faults"]
    result = run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rs",
            *select,
        ],
        project,
        timeout=timeout,
    )
    assert_all_passed(result.stdout)


def assert_all_passed(output: str) -> None:
    """A pytest run's summary line says tests passed and none was skipped."""
    summary = output.strip().splitlines()[-1]
    assert re.search(r"\b\d+ passed\b", summary), output[-3000:]
    assert "skipped" not in summary, output[-3000:]


def answers_for(template: Path, answers: Mapping[str, Any]) -> dict[str, Any]:
    """Every answer and computed value copier arrives at, without writing a file."""
    worker = copier.run_copy(
        str(template),
        Path(os.devnull).parent / "nonexistent-copier-target",
        data={**BASE_ANSWERS, **answers},
        defaults=True,
        unsafe=True,
        skip_tasks=True,
        pretend=True,
        quiet=True,
    )
    return dict(worker.answers.combined)


def without_this_environment(env: Mapping[str, str]) -> dict[str, str]:
    """`env` as a user's shell has it: this repository's tools are not on PATH,
    and nothing points Python or mypy at them."""
    kept = {
        key: value
        for key, value in env.items()
        if key not in {"PYTHONPATH", "VIRTUAL_ENV", "MYPY_CACHE_DIR"}
    }
    kept["PATH"] = os.pathsep.join(
        p for p in kept.get("PATH", "").split(os.pathsep) if Path(p) != BIN
    )
    return kept


def copier_copy(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`copier copy --defaults` from the command line, without its tasks."""
    return subprocess.run(
        [
            str(BIN / "copier"),
            "copy",
            "--trust",
            "--defaults",
            "--skip-tasks",
            "--quiet",
            *args,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
