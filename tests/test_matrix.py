"""Every combination of the options, rendered and checked; every distinct Python
project among them runs its own test suite against real services.

The options: database / external-API / file / blocking-library / CPU-bound
concerns each present or absent, `docker` on or off, and `ci` one of three:
2^5 x 2 x 3 = 192 renders. `docker` and `ci` change no Python file and no tool configuration
(test_delivery_options_change_no_python proves it for every code combination), so
each of the 32 code combinations is linted, type-checked and runs its suite once
(the default one's suite runs in test_projects.py, installed as its README says).
"""

from __future__ import annotations

import ast
import fcntl
import graphlib
import hashlib
import importlib.util
import itertools
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import (
    BIN,
    Renderer,
    check_project,
    run,
    run_project_tests,
    snapshot_template,
)


@dataclass(frozen=True)
class Combo:
    db: bool
    http: bool
    files: bool
    blocking: bool
    cpu: bool
    docker: bool = True
    ci: str = "github"

    @property
    def kinds(self) -> tuple[bool, bool, bool, bool, bool]:
        """Which kinds of concern are present, in the order of the fields."""
        return (self.db, self.http, self.files, self.blocking, self.cpu)

    @property
    def code(self) -> Combo:
        """The combination with the delivery options at their defaults."""
        return Combo(*self.kinds)

    @property
    def is_code(self) -> bool:
        return self == self.code

    @property
    def id(self) -> str:
        kinds = [
            k
            for k, on in (
                ("db", self.db),
                ("http", self.http),
                ("files", self.files),
                ("block", self.blocking),
                ("cpu", self.cpu),
            )
            if on
        ]
        return "-".join(
            [*(kinds or ["bare"]), "docker" if self.docker else "nodocker", self.ci]
        )

    @property
    def answers(self) -> dict[str, Any]:
        concerns = [
            *(["orders"] if self.db else []),
            *(["weather"] if self.http else []),
            *(["documents"] if self.files else []),
            *(["notifications"] if self.blocking else []),
            *(["thumbnails"] if self.cpu else []),
        ]
        return {
            "concerns": ", ".join(concerns),
            "cpu_concerns": ["thumbnails"] if self.cpu else [],
            "http_concerns": ["weather"] if self.http else [],
            "file_concerns": ["documents"] if self.files else [],
            "blocking_concerns": ["notifications"] if self.blocking else [],
            "docker": self.docker,
            "ci": self.ci,
        }


CODE = [
    Combo(db, http, files, blocking, cpu)
    for db, http, files, blocking, cpu in itertools.product([True, False], repeat=5)
]
ALL = [
    Combo(c.db, c.http, c.files, c.blocking, c.cpu, docker, ci)
    for c in CODE
    for docker, ci in itertools.product([True, False], ["github", "gitlab", "none"])
]

#: Files that are empty on purpose.
EMPTY_ON_PURPOSE = {"py.typed", "__init__.py"}
LEFTOVER_JINJA = re.compile(r"\{\{|\{%|\{#")


@pytest.fixture(scope="session")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory every pytest-xdist worker of this run shares, so that each
    combination is rendered once per run, not once per worker whose tests need
    it: the run's base temporary directory, which holds each local worker's own
    (`popen-gwN`). Pytest does not remove it while the run is alive."""
    base = tmp_path_factory.getbasetemp()
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        return base
    assert base.name == f"popen-{worker}", f"not a local xdist worker: {base}"
    return base.parent


def _made_once(shared: Path, name: str, make: Callable[[Path], object]) -> Path:
    """`shared / name`, made by `make` by whichever worker asks first; the others
    wait for it (a lock per name) and then use it."""
    dest = shared / name
    done = dest.with_suffix(".done")
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(dest, ignore_errors=True)  # a worker that failed mid-way
            make(dest)
            done.touch()
    return dest


@cache
def rendered(shared: Path, combo: Combo) -> Path:
    """`combo`'s project, rendered once per test run. Other workers read it at
    the same time: run nothing in it (see `working_copy`)."""
    template = _made_once(shared, "template", snapshot_template)
    base = _made_once(
        shared,
        combo.id,
        lambda dest: Renderer(template, dest)(combo.answers, name="project"),
    )
    return base / "project"


def working_copy(project: Path, tmp_path: Path) -> Path:
    """A copy of a shared render for tools to run in: ruff, mypy, pytest and the
    CLI leave caches and bytecode behind, which a test reading the shared render's
    files on another worker must not meet."""
    return shutil.copytree(project, tmp_path / project.name)


def _files(project: Path) -> list[Path]:
    return [
        p for p in sorted(project.rglob("*")) if p.is_file() and ".git" not in p.parts
    ]


def _text(project: Path, suffixes: tuple[str, ...]) -> str:
    return "\n".join(
        p.read_text(encoding="utf-8")
        for p in _files(project)
        if p.name.endswith(suffixes)
    )


def _validate(schema: str, path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, (
        f"{path.name} against {schema}:\n{result.stdout}{result.stderr}"
    )


@pytest.mark.parametrize("combo", ALL, ids=lambda c: c.id)
def test_render(combo: Combo, shared: Path, tmp_path: Path) -> None:
    project = rendered(shared, combo)
    files = _files(project)

    for path in files:
        text = path.read_text(encoding="utf-8")
        # GitHub Actions' own ${{ ... }} expressions are meant to stay.
        unrendered = LEFTOVER_JINJA.search(re.sub(r"\$\{\{[^}]*\}\}", "", text))
        assert not unrendered, f"leftover Jinja in {path.relative_to(project)}"
        if not text.strip():
            assert path.name in EMPTY_ON_PURPOSE, (
                f"{path.relative_to(project)} is empty"
            )
        if path.suffix == ".toml":
            tomllib.loads(text)
        if path.suffix in {".yml", ".yaml"}:
            list(yaml.safe_load_all(text))

    _check_files_match_answers(combo, project)
    _check_delivery_files(combo, project)
    if combo.is_code:  # the others have the same Python and tool configuration
        _check_imports_form_no_cycle(project / "src" / "order_service")
        check_project(working_copy(project, tmp_path))


def _check_imports_form_no_cycle(package: Path) -> None:
    """No module of the package imports, directly or through others, one that
    imports it: the layers (concerns, what a kind shares, the app and the CLI
    over them) only ever import downwards."""
    modules = {
        ".".join(path.relative_to(package.parent).with_suffix("").parts).removesuffix(
            ".__init__"
        ): path
        for path in package.rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imported = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                relative = "." * node.level + (node.module or "")
                module = importlib.util.resolve_name(relative, here)
                targets = [module, *(f"{module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            imported.update(t for t in targets if t in modules and t != name)
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        pytest.fail(f"an import cycle: {' -> '.join(error.args[1])}", pytrace=False)


def _check_files_match_answers(combo: Combo, project: Path) -> None:
    package = project / "src" / "order_service"
    code = _text(
        project, (".py", ".toml", ".ini", ".yml", ".yaml", "Dockerfile", ".example")
    )
    src = _text(package, (".py",))
    assert (package / "orders").is_dir() == combo.db
    assert (package / "weather").is_dir() == combo.http
    assert (package / "documents").is_dir() == combo.files
    assert (package / "storage.py").exists() == combo.files
    assert (package / "notifications").is_dir() == combo.blocking
    assert (package / "thumbnails").is_dir() == combo.cpu
    assert (package / "db.py").exists() == combo.db
    assert (package / "migrations").is_dir() == combo.db
    assert not (project / "alembic.ini").exists()  # configured once, in the package
    assert (package / "upstream.py").exists() == combo.http
    assert (package / "blocking.py").exists() == combo.blocking
    assert (package / "worker.py").exists() == combo.cpu
    assert (package / "jobs.py").exists() == combo.cpu
    assert (package / "cli" / "database.py").exists() == combo.db
    assert (package / "cli" / "worker.py").exists() == combo.cpu
    if not combo.cpu:
        assert not re.search(r"celery|REDIS_URL|redis://", code, re.IGNORECASE), (
            "Celery/Redis without a CPU concern"
        )
    if not combo.db:
        assert not re.search(
            r"sqlalchemy|alembic|asyncpg|DATABASE_URL", code, re.IGNORECASE
        ), "database code without a database concern"
    if not combo.http:
        assert "httpx" not in src, "an httpx client without an external-API concern"
        assert "_API_URL" not in code
    if not combo.files:
        assert not re.search(r"STORAGE_DIR|storage_dir", code), "storage without files"
    if not combo.blocking:
        assert not re.search(r"smtp|aiosmtpd|ThreadLane", code, re.IGNORECASE), (
            "a blocking-library concern's code without one"
        )


def _check_delivery_files(combo: Combo, project: Path) -> None:
    dockerfile, compose = project / "Dockerfile", project / "compose.yaml"
    github, gitlab = (
        project / ".github" / "workflows" / "ci.yml",
        project / ".gitlab-ci.yml",
    )
    assert dockerfile.exists() == combo.docker
    assert compose.exists() == combo.docker
    assert (project / ".dockerignore").exists() == combo.docker
    assert (project / "deploy").is_dir() == combo.docker
    assert github.exists() == (combo.ci == "github")
    assert gitlab.exists() == (combo.ci == "gitlab")
    if combo.ci == "github":
        _validate("vendor.github-workflows", github)
    if combo.ci == "gitlab":
        _validate("vendor.gitlab-ci", gitlab)
    if not combo.docker:
        return
    _validate("vendor.compose-spec", compose)
    readme = (project / "README.md").read_text()
    for variable in set(re.findall(r"\$\{(\w+)", compose.read_text())):
        assert f"`{variable}`" in readme or f"{variable}=" in readme, (
            f"the README does not name {variable}, which compose.yaml reads"
        )
    services = set(yaml.safe_load(compose.read_text())["services"])
    expected = {"api"} | ({"postgres", "migrate"} if combo.db else set())
    expected |= {"rabbitmq", "redis", "worker", "flower"} if combo.cpu else set()
    expected |= {"mailpit"} if combo.blocking else set()
    assert ("/data/storage" in dockerfile.read_text()) == combo.files
    assert services == expected
    lint = subprocess.run(
        [str(BIN / "hadolint"), str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    users = re.findall(r"^USER\s+(\S+)", dockerfile.read_text(), re.MULTILINE)
    assert users, "the image sets no user"
    assert users[-1].split(":")[0] not in {"root", "0"}
    manifests = sorted((project / "deploy").glob("*.yaml"))
    checked = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", "--quiet", *map(str, manifests)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    _check_writable_mounts(combo, project / "deploy")
    if combo.cpu:
        _check_scaled_object(project / "deploy" / "worker-thumbnails.yaml")


def _check_writable_mounts(combo: Combo, deploy: Path) -> None:
    """Every Deployment's container runs on a read-only root filesystem, so each
    place the service writes must be a volume: /tmp (metrics of `serve --workers
    N` and of the worker's pool) on an emptyDir, and the API's STORAGE_DIR on a
    claim that deploy/ defines, or uploads fail and the API is never ready."""
    docs = [
        d
        for m in sorted(deploy.glob("*.yaml"))
        for d in yaml.safe_load_all(m.read_text())
    ]
    claims = {
        d["metadata"]["name"] for d in docs if d["kind"] == "PersistentVolumeClaim"
    }
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    commands = [
        d["spec"]["template"]["spec"]["containers"][0]["args"][0] for d in deployments
    ]
    assert commands.count("serve") == 1, f"not one API Deployment: {commands}"
    for doc in deployments:
        pod = doc["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        mounted = {
            m["mountPath"]: volumes[m["name"]]
            for m in container.get("volumeMounts", [])
        }
        name = doc["metadata"]["name"]
        tmp = mounted.get("/tmp", {})  # noqa: S108 - the path in the manifest, not ours
        assert "emptyDir" in tmp, f"{name}: /tmp is not an emptyDir"
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        is_api = container["args"][0] == "serve"
        assert ("STORAGE_DIR" in env) == (is_api and combo.files)
        if "STORAGE_DIR" in env:
            storage = mounted.get(env["STORAGE_DIR"], {})
            claim = storage.get("persistentVolumeClaim", {}).get("claimName")
            assert claim in claims, f"{name}: STORAGE_DIR is not on a claim of deploy/"
    assert bool(claims) == combo.files


def _check_scaled_object(path: Path) -> None:
    """KEDA has no published schema here: check it scales the right thing instead."""
    deployment, scaled = yaml.safe_load_all(path.read_text())
    assert scaled["kind"] == "ScaledObject"
    assert scaled["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["type"] == "rabbitmq"
    # The default QUEUE_PREFIX is the package name (worker.queue_name).
    assert trigger["metadata"]["queueName"] == "order_service.thumbnails"
    assert trigger["metadata"]["mode"] == "QueueLength"
    # KEDA reads the broker's address from the workers' own environment.
    assert trigger["metadata"]["hostFromEnv"] == "BROKER_URL"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"][0]["secretRef"]["name"].endswith("-settings")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args == ["worker", "--queues", "thumbnails"]
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > 90, "longer than the default JOB_TIME_LIMIT"


def _digest(project: Path, *, python_only: bool = False) -> dict[str, str]:
    """Each file's hash; with `python_only`, only the files the checks and the
    tests read (Python, and their configuration)."""
    return {
        str(p.relative_to(project)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in _files(project)
        if not python_only or p.suffix == ".py" or p.name == "pyproject.toml"
    }


@pytest.mark.parametrize(
    "code", CODE, ids=lambda c: c.id.removesuffix("-docker-github")
)
def test_delivery_options_change_no_python(code: Combo, shared: Path) -> None:
    digests = {
        combo.id: _digest(rendered(shared, combo), python_only=True)
        for combo in ALL
        if combo.code == code
    }
    assert len(digests) == 6
    first = next(iter(digests.values()))
    for combo_id, digest in digests.items():
        assert digest == first, f"{combo_id} differs in its Python files"


def runs_fault_tests(code: Combo) -> bool:
    """The fault tests (marked `faults`: a database, broker, Redis or worker stopped,
    stalled or restarted; a telemetry endpoint that refuses or never answers;
    `serve --workers 2` with one process stopped) test the database and job
    machinery and the served process, which the other kinds do not touch beyond
    the app's start-up, and take most of a suite's time. Each family runs with
    every other kind present (all kinds) and with none (database alone, CPU alone,
    bare): 4 suites. The default project (database, external API, CPU), whose
    whole suite test_projects.py runs as the README says, is a fifth. The other
    27 suites of the matrix run every other test."""
    alone = sum(code.kinds) == 1 and (code.db or code.cpu)
    return all(code.kinds) or alone or not any(code.kinds)


#: What copier's defaults render (test_the_defaults_render_a_matrix_combination).
#: test_projects.py's test_installed_as_a_user_would runs this project's whole
#: suite, fault tests included, the way its README says, so the matrix does not
#: run that suite a second time.
DEFAULT = Combo(db=True, http=True, files=False, blocking=False, cpu=True)


def test_the_defaults_render_a_matrix_combination(shared: Path, tmp_path: Path) -> None:
    template = _made_once(shared, "template", snapshot_template)
    defaults = Renderer(template, tmp_path)(name="project")
    matrix = rendered(shared, DEFAULT)
    assert _digest(defaults) == _digest(matrix)


def _suite_seconds(code: Combo) -> float:
    """A rough figure for a suite's time in a 4-worker run (fitted to one run's
    durations: 37 s bare, 225 s with every kind), used only to start the slowest
    suites first."""
    faults = 90 * code.cpu + 15 * code.db if runs_fault_tests(code) else 0
    return 30 + 15 * sum(code.kinds) + faults


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(c, marks=pytest.mark.slow(seconds=_suite_seconds(c)))
        for c in CODE
        if c != DEFAULT
    ],
    ids=lambda c: c.id.removesuffix("-docker-github"),
)
def test_generated_suite(code: Combo, shared: Path, tmp_path: Path) -> None:
    project = working_copy(rendered(shared, code), tmp_path)
    run_project_tests(project, faults=runs_fault_tests(code))


#: The commands compose, the manifests and the CLI have depend on two kinds only:
#: a database concern (`migrate`) and a CPU-bound one (`worker`); the CLI's parts
#: are `cli/core.py`, `cli/database.py` and `cli/worker.py`. So the four ways
#: those two come, each beside every other kind (the fullest manifests).
COMMAND_SETS = [c for c in CODE if c.docker and c.http and c.files and c.blocking]


@pytest.mark.parametrize("code", COMMAND_SETS, ids=lambda c: c.id)
def test_deploy_commands_exist_in_the_cli(
    code: Combo, shared: Path, tmp_path: Path
) -> None:
    """Every command compose and the manifests run is a command of the CLI."""
    project = working_copy(rendered(shared, code), tmp_path)
    commands: set[str] = set()
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    for service in compose["services"].values():
        if service.get("image", "").startswith("order-service"):
            commands.add(service["command"][0])
    for manifest in (project / "deploy").glob("*.yaml"):
        for doc in yaml.safe_load_all(manifest.read_text()):
            spec = doc.get("spec", {}).get("template", {}).get("spec", {})
            commands |= {c["args"][0] for c in spec.get("containers", [])}
    commands.add(
        re.findall(
            r'^CMD \["(\w+)"', (project / "Dockerfile").read_text(), re.MULTILINE
        )[0]
    )
    assert commands >= {"serve"}
    # The CLI's own list of its commands, from one process (an import of the app
    # takes seconds; the commands' help is tested in the project's own suite).
    listing = (
        "import typer; from order_service.cli import app; "
        "print(*typer.main.get_command(app).commands)"
    )
    listed = run([sys.executable, "-c", listing], project).stdout.split()
    assert commands <= set(listed), listed
