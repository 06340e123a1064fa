"""`copier update`: a user's edits survive a new template version, and changing the
answers adds or removes concerns, migrating a live database on the way."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import copier
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from helpers import check_project, service_env, snapshot_template

V2_CHANGELOG = "Version 2 of the template."
V2_HEALTH = "Readiness probes run concurrently, each within HEALTH_TIMEOUT seconds."


def git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository of the template: tag v1 as it is, tag v2 with changes."""
    repo = snapshot_template(tmp_path_factory.mktemp("repo") / "template")
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "v1", cwd=repo)
    git("tag", "v1", cwd=repo)
    (repo / "template" / "CHANGELOG.md").write_text(f"# Changes\n\n{V2_CHANGELOG}\n")
    readme = repo / "template" / "README.md.jinja"
    readme.write_text(
        readme.read_text().replace("## Health\n", f"## Health\n\n{V2_HEALTH}\n", 1)
    )
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "v2", cwd=repo)
    git("tag", "v2", cwd=repo)
    return repo


def generate(repo: Path, dest: Path, ref: str, answers: dict[str, Any]) -> Path:
    copier.run_copy(
        str(repo),
        dest,
        data={"project_name": "Order Service", **answers},
        vcs_ref=ref,
        defaults=True,
        unsafe=True,
        skip_tasks=True,
        quiet=True,
    )
    git("init", "-q", "-b", "main", cwd=dest)
    git("add", "-A", cwd=dest)
    git("commit", "-q", "-m", "generated", cwd=dest)
    return dest


def update(project: Path, ref: str, answers: dict[str, Any] | None = None) -> None:
    copier.run_update(
        project,
        data=answers or {},
        vcs_ref=ref,
        defaults=True,
        overwrite=True,
        unsafe=True,
        skip_tasks=True,
        quiet=True,
    )


def assert_merged_cleanly(project: Path) -> None:
    for path in project.rglob("*"):
        if ".git" in path.parts or not path.is_file():
            continue
        assert path.suffix != ".rej", f"rejected hunk: {path}"
        text = path.read_text(encoding="utf-8", errors="replace")
        assert "<<<<<<<" not in text, f"conflict in {path}"
        assert ">>>>>>>" not in text, f"conflict in {path}"


def test_user_edits_survive_a_new_template_version(
    template_repo: Path, tmp_path: Path
) -> None:
    project = generate(template_repo, tmp_path / "svc", "v1", {"concerns": "orders"})
    package = project / "src" / "order_service"
    # The user's own work: a new route, and a README line in their words.
    (package / "reports.py").write_text(
        '"""Reports the user added."""\n\n'
        "from fastapi import APIRouter\n\n"
        'router = APIRouter(prefix="/reports", tags=["reports"])\n\n\n'
        '@router.get("/summary")\n'
        "async def read_summary() -> dict[str, int]:\n"
        '    return {"orders": 0}\n'
    )
    concerns = package / "concerns.py"
    text = concerns.read_text()
    imports = "from .orders import router as orders_router\n"
    routers = "    orders_router.router,\n"
    assert imports in text
    assert routers in text
    text = text.replace(imports, imports + "from .reports import router as reports\n")
    concerns.write_text(text.replace(routers, routers + "    reports,\n"))
    readme = project / "README.md"
    lines = readme.read_text().splitlines(keepends=True)
    lines[2] = "Order intake for the shop, maintained by the platform team.\n"
    readme.write_text("".join(lines))
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", "user work", cwd=project)

    update(project, "v2")

    assert_merged_cleanly(project)
    assert (package / "reports.py").exists()
    assert "    reports,\n" in concerns.read_text()
    text = readme.read_text()
    assert "maintained by the platform team" in text
    assert V2_HEALTH in text
    assert V2_CHANGELOG in (project / "CHANGELOG.md").read_text()
    check_project(project)


def _database(server: str, name: str) -> str:
    return make_url(server).set(database=name).render_as_string(hide_password=False)


async def _sql(url: str, *statements: str, autocommit: bool = False) -> list[Any]:
    engine = create_async_engine(
        url, isolation_level="AUTOCOMMIT" if autocommit else None
    )
    results: list[Any] = []
    try:
        async with engine.begin() as connection:
            for statement in statements:
                result = await connection.execute(text(statement))
                results.append(result.all() if result.returns_rows else None)
    finally:
        await engine.dispose()
    return results


@pytest.fixture
def live_database() -> Iterator[str]:
    """An empty database for the update to migrate, dropped afterwards."""
    server = service_env(Path.cwd())["DATABASE_URL"]
    name = f"test_update_{uuid.uuid4().hex[:10]}"
    admin = _database(server, "postgres")
    asyncio.run(_sql(admin, f'CREATE DATABASE "{name}"', autocommit=True))
    try:
        yield _database(server, name)
    finally:
        asyncio.run(
            _sql(admin, f'DROP DATABASE "{name}" WITH (FORCE)', autocommit=True)
        )


def cli(
    project: Path, database_url: str, *args: str
) -> subprocess.CompletedProcess[str]:
    env = service_env(project) | {"DATABASE_URL": database_url}
    result = subprocess.run(
        [sys.executable, "-m", "order_service", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_adding_a_database_concern_migrates_a_live_database(
    template_repo: Path, tmp_path: Path, live_database: str
) -> None:
    project = generate(template_repo, tmp_path / "svc", "v1", {"concerns": "orders"})
    cli(project, live_database, "migrate")
    asyncio.run(
        _sql(live_database, "INSERT INTO orders (name) VALUES ('first'), ('second')")
    )

    update(project, "v1", {"concerns": "orders, customers"})
    assert_merged_cleanly(project)
    assert (project / "src" / "order_service" / "customers" / "router.py").exists()
    cli(project, live_database, "migrate")

    [names, tables] = asyncio.run(
        _sql(
            live_database,
            "SELECT name FROM orders ORDER BY id",
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
        )
    )
    assert [row.name for row in names] == ["first", "second"]
    assert {row.tablename for row in tables} >= {
        "orders",
        "customers",
        "alembic_version",
    }

    # The user's next change to a model still gets its migration autogenerated.
    models = project / "src" / "order_service" / "orders" / "models.py"
    models.write_text(
        models.read_text().replace(
            "    description: Mapped[str | None]",
            "    priority: Mapped[int | None] = mapped_column(sa.Integer())\n"
            "    description: Mapped[str | None]",
        )
    )
    cli(project, live_database, "makemigration", "-m", "add order priority")
    written = [
        p
        for p in (project / "src" / "order_service" / "migrations" / "versions").glob(
            "*.py"
        )
        if "add_order_priority" in p.name
    ]
    assert len(written) == 1, "one migration for the user's change"
    assert "add_column" in written[0].read_text()
    cli(project, live_database, "migrate")
    [columns] = asyncio.run(
        _sql(
            live_database,
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'orders'",
        )
    )
    assert "priority" in {row.column_name for row in columns}
    check_project(project)


def test_removing_a_cpu_concern_removes_its_code(
    template_repo: Path, tmp_path: Path
) -> None:
    project = generate(
        template_repo,
        tmp_path / "svc",
        "v1",
        {"concerns": "orders, thumbnails", "cpu_concerns": ["thumbnails"]},
    )
    package = project / "src" / "order_service"
    assert (package / "thumbnails" / "tasks.py").exists()

    update(project, "v1", {"concerns": "orders", "cpu_concerns": []})

    assert_merged_cleanly(project)
    assert not (package / "thumbnails").exists()
    assert not (package / "worker.py").exists()
    assert not (package / "jobs.py").exists()
    assert "thumbnails" not in (package / "concerns.py").read_text()
    assert "celery" not in (project / "pyproject.toml").read_text()
    check_project(project)


def _tables(url: str) -> dict[str, int]:
    """Each table of the public schema with its row count (alembic's excepted)."""
    [names] = asyncio.run(
        _sql(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    )
    tables = sorted(
        row.tablename for row in names if row.tablename != "alembic_version"
    )
    # The names come from the catalogue, not from input.
    counts = asyncio.run(_sql(url, *(f'SELECT count(*) FROM "{t}"' for t in tables)))  # noqa: S608
    return {table: rows[0][0] for table, rows in zip(tables, counts, strict=True)}


def test_database_concerns_added_removed_and_reclassified_keep_migrating(
    template_repo: Path, tmp_path: Path, live_database: str
) -> None:
    """Add, remove and reclassify database concerns by `copier update`, migrating
    a live database after each step: `migrate` never meets a revision it cannot
    find, a table with rows is kept (and said so), an empty one is dropped, a
    concern that comes back finds its rows, and a fresh database still builds."""
    project = generate(
        template_repo, tmp_path / "svc", "v1", {"concerns": "orders, notes"}
    )
    package = project / "src" / "order_service"
    cli(project, live_database, "migrate")
    asyncio.run(_sql(live_database, "INSERT INTO orders (name) VALUES ('kept')"))
    assert _tables(live_database) == {"orders": 1, "notes": 0}

    def step(answers: dict[str, Any]) -> str:
        git("add", "-A", cwd=project)
        git("commit", "-q", "-m", "before update", "--allow-empty", cwd=project)
        update(project, "v1", answers)
        assert_merged_cleanly(project)
        result = cli(project, live_database, "migrate")
        return result.stdout + result.stderr

    # orders becomes CPU-bound and customers arrives: orders keeps its row.
    said = step({"concerns": "orders, notes, customers", "cpu_concerns": ["orders"]})
    assert "Kept table orders: it holds rows" in said
    assert (package / "orders" / "tasks.py").exists()
    assert not (package / "orders" / "models.py").exists()
    assert _tables(live_database) == {"orders": 1, "notes": 0, "customers": 0}

    # notes goes away: its table is empty, so it goes too.
    said = step({"concerns": "orders, customers", "cpu_concerns": ["orders"]})
    assert "Kept table" not in said
    assert _tables(live_database) == {"orders": 1, "customers": 0}

    # orders keeps rows in the database again: its row is still there.
    step({"concerns": "orders, customers", "cpu_concerns": []})
    assert _tables(live_database) == {"orders": 1, "customers": 0}
    [[row]] = asyncio.run(_sql(live_database, "SELECT name FROM orders"))
    assert row.name == "kept"

    versions = sorted(
        p.name for p in (package / "migrations" / "versions").glob("*.py")
    )
    assert versions == [
        "__init__.py",
        "customers_0001_create.py",
        "notes_0001_create.py",
        "notes_0002_retire.py",
        "orders_0001_create.py",
        "orders_0002_retire.py",
        "orders_0003_restore.py",
    ]
    # The whole history also builds a fresh database, ending at the same tables.
    fresh = f"{live_database}_fresh"
    asyncio.run(
        _sql(
            live_database.rsplit("/", 1)[0] + "/postgres",
            f'DROP DATABASE IF EXISTS "{fresh.rsplit("/", 1)[1]}"',
            autocommit=True,
        )
    )
    try:
        created = cli(project, fresh, "migrate").stdout
        assert "Created database" in created
        assert _tables(fresh) == {"orders": 0, "customers": 0}
    finally:
        asyncio.run(
            _sql(
                live_database.rsplit("/", 1)[0] + "/postgres",
                f'DROP DATABASE IF EXISTS "{fresh.rsplit("/", 1)[1]}" WITH (FORCE)',
                autocommit=True,
            )
        )
    check_project(project)


def test_removing_the_last_external_api_keeps_env_loadable(
    template_repo: Path, tmp_path: Path, live_database: str
) -> None:
    """The post-update task comments out the URL setting the update removed, says
    so, and the service reads its `.env` again."""
    copier.run_copy(
        str(template_repo),
        tmp_path / "svc",
        data={
            "project_name": "Order Service",
            "concerns": "orders, weather",
            "http_concerns": ["weather"],
        },
        vcs_ref="v1",
        defaults=True,
        unsafe=True,
        quiet=True,
    )
    project = tmp_path / "svc"
    env = project / ".env"
    assert "WEATHER_API_URL=" in env.read_text()
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", "generated", cwd=project)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import copier, sys; copier.run_update(sys.argv[1], data={'concerns': 'orders'},"
            " vcs_ref='v1', defaults=True, overwrite=True, unsafe=True)",
            str(project),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "WEATHER_API_URL is no longer a setting" in result.stdout + result.stderr
    text = env.read_text()
    assert "\nWEATHER_API_URL=" not in text
    assert "# no longer a setting (copier update): WEATHER_API_URL=" in text
    assert "SECRET_KEY=" in text
    cli(project, live_database, "migrate")


def test_file_and_blocking_library_concerns_come_and_go(
    template_repo: Path, tmp_path: Path
) -> None:
    """An update adds a file concern and a blocking-library one (their packages,
    the storage and the thread lanes, their test servers), and a later update that
    drops them from `concerns` removes all of it."""
    project = generate(template_repo, tmp_path / "svc", "v1", {"concerns": "orders"})
    package = project / "src" / "order_service"
    assert not (package / "blocking.py").exists()

    update(
        project,
        "v1",
        {
            "concerns": "orders, documents, notifications",
            "file_concerns": ["documents"],
            "blocking_concerns": ["notifications"],
        },
    )
    assert_merged_cleanly(project)
    assert (package / "documents" / "router.py").exists()
    assert (package / "storage.py").exists()
    assert (package / "notifications" / "client.py").exists()
    assert (package / "blocking.py").exists()
    assert (project / "tests" / "support" / "mail_server.py").exists()
    concerns = (package / "concerns.py").read_text()
    assert "notifications" in concerns
    assert "documents" in concerns
    assert "aiosmtpd" in (project / "pyproject.toml").read_text()
    example = (project / ".env.example").read_text()
    assert "NOTIFICATIONS_SMTP_URL=" in example
    assert "STORAGE_DIR=" in example
    check_project(project)
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", "file and mail concerns", cwd=project)

    update(project, "v1", {"concerns": "orders"})
    assert_merged_cleanly(project)
    for gone in ("documents", "storage.py", "notifications", "blocking.py"):
        assert not (package / gone).exists(), gone
    assert not (project / "tests" / "support" / "mail_server.py").exists()
    concerns = (package / "concerns.py").read_text()
    assert "notifications" not in concerns
    assert "documents" not in concerns
    assert "aiosmtpd" not in (project / "pyproject.toml").read_text()
    check_project(project)
