"""Projects beyond the matrix: a wide one at the limits of every name (and with
names of Python's builtins), and one installed exactly as its README tells a user
to."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers import (
    BIN,
    Renderer,
    assert_all_passed,
    check_project,
    run,
    run_project_tests,
    service_env,
    without_this_environment,
)

#: Several concerns of each kind: one of each I/O kind as long as a name may be
#: (28), one of each named like a builtin the generated code must not shadow, and
#: one named like the alias of another concern's module (`orders_models`).
WIDE_DB = ["orders", "order_items", "customer_loyalty_point_ledger"[:28], "list"]
WIDE_HTTP = ["weather", "orders_models", "postal_code_lookup_service_x", "id"]
WIDE_FILES = ["documents", "scanned_delivery_notes_archiv"[:28], "type"]
WIDE_BLOCKING = ["notifications", "legacy_crm_notification_send", "print"]
WIDE_CPU = ["thumbnails", "pdf_reports", "image_similarity_embeddings", "all"]
LONG_PACKAGE = "a_rather_long_package_name_for_x"


# About 440 s on a quiet two-core machine and over 600 s on a slower one under the
# full suite's load: the timeouts only catch a hang.
@pytest.mark.slow(seconds=480)
@pytest.mark.timeout(3600)
def test_a_wide_project_renders_and_passes(render: Renderer) -> None:
    io = WIDE_DB + WIDE_HTTP + WIDE_FILES + WIDE_BLOCKING
    assert max(len(name) for name in io) == 28
    assert len(LONG_PACKAGE) == 32
    concerns = io + WIDE_CPU
    project = render(
        {
            "package_name": LONG_PACKAGE,
            "concerns": ", ".join(concerns),
            "cpu_concerns": WIDE_CPU,
            "http_concerns": WIDE_HTTP,
            "file_concerns": WIDE_FILES,
            "blocking_concerns": WIDE_BLOCKING,
            # The benchmark is opt-in; this project opts in, so it is checked too.
            "benchmark": True,
        },
        name="wide",
    )
    package = project / "src" / LONG_PACKAGE
    assert sorted(
        p.name for p in package.iterdir() if (p / "router.py").exists()
    ) == sorted(concerns)
    assert (project / "benchmarks" / "bench.py").is_file()
    assert (project / "tests" / "test_benchmark.py").is_file()
    check_project(project)
    # The names are what this project tests; the matrix runs the fault tests.
    run_project_tests(project, faults=False, timeout=2700)


def _readme_commands(readme: str, heading: str) -> list[str]:
    """The commands of the first console block after `heading`, without comments."""
    section = readme.split(f"## {heading}", 1)[1]
    block = section.split("```console", 1)[1].split("```", 1)[0]
    return [
        line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()
    ]


@pytest.mark.slow(seconds=230)
def test_installed_as_a_user_would(render: Renderer, tmp_path: Path) -> None:
    """A fresh virtual environment made by the README's own install command, then
    the README's own test and check commands: nothing from this repository's
    environment leaks in. This is the run of the default combination's whole
    suite (test_matrix.py's DEFAULT), which the matrix does not repeat."""
    project = render(name="user")
    readme = (project / "README.md").read_text()
    install = _readme_commands(readme, "Getting started")[0]
    checks = _readme_commands(readme, "Tests and checks")
    assert install == "uv sync"
    assert checks[0] == "uv run pytest"

    env = without_this_environment(service_env(project))
    env["UV_PROJECT_ENVIRONMENT"] = str(project / ".venv")
    for command in [install, *checks]:
        result = run(
            [str(BIN / "uv"), *command.split()[1:]], project, timeout=900, env=env
        )
        if command == checks[0]:  # as in the matrix, a skipped test is a failure
            assert_all_passed(result.stdout)
    assert (project / ".venv" / "bin" / "order-service").exists(), "the console script"
    assert (project / "uv.lock").exists(), (
        "uv sync writes the lock the image builds from"
    )


def test_the_wiring_between_modules_is_typed(render: Renderer) -> None:
    """Routes reach the job queue and the settings through code mypy follows, not
    strings: a job submitted with arguments its task does not take, and a misspelt
    external-API setting, are type errors in the generated project."""
    project = render(name="typed")
    package = project / "src" / "order_service"
    router = package / "thumbnails" / "router.py"
    text = router.read_text()
    assert "width=body.width" in text
    router.write_text(text.replace("width=body.width", "width=str(body.width)"))
    client = package / "weather" / "client.py"
    text = client.read_text()
    assert "settings.weather_api_url" in text
    client.write_text(
        text.replace("settings.weather_api_url", "settings.wether_api_url")
    )
    result = subprocess.run(
        [str(BIN / "mypy")],
        cwd=project,
        env=service_env(project),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stdout
    assert 'Argument "width" to "submit" of "JobQueue"' in result.stdout
    assert '"Settings" has no attribute "wether_api_url"' in result.stdout
