"""Rendering: free text survives every file format, the post-copy task does its job,
and rendered projects pass their own checks and tests."""

from __future__ import annotations

import ast
import html
import py_compile
import re
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from markdown_it import MarkdownIt
from packaging.requirements import Requirement

from helpers import ROOT, Renderer, check_project

NASTY = {
    "project_name": 'Jo\'s "Quoted" Service \\ {{ name }}',
    "description": 'He said "hi" \\ back\\slash {{ x }} {% raw %} <b>*bold*</b> # a | b ~ [l](x) & café ☕ 𝄞',
    "author_name": 'Zoë "Z" O\'Brien \\ {% if %}',
    "author_email": "zoe.o-brien+svc@example.org",
}


def _assigned_literal(module: Path, name: str) -> object:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name
            for target in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not assigned in {module}")


def _markdown_text(markdown: str) -> str:
    rendered = MarkdownIt("commonmark").render(markdown)
    return html.unescape(re.sub(r"<[^>]+>", "", rendered))


@pytest.fixture(scope="module")
def nasty_project(template_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    render = Renderer(template_dir, tmp_path_factory.mktemp("nasty"))
    return render({**NASTY, "project_slug": "jos-service"})


def test_free_text_survives_toml(nasty_project: Path) -> None:
    project = tomllib.loads(
        (nasty_project / "pyproject.toml").read_text(encoding="utf-8")
    )["project"]
    assert project["description"] == NASTY["description"]
    assert project["authors"] == [
        {"name": NASTY["author_name"], "email": NASTY["author_email"]}
    ]


def test_free_text_survives_yaml(nasty_project: Path) -> None:
    answers = yaml.safe_load(
        (nasty_project / ".copier-answers.yml").read_text(encoding="utf-8")
    )
    for key, value in NASTY.items():
        assert answers[key] == value


def test_free_text_survives_python(nasty_project: Path) -> None:
    for module in nasty_project.rglob("*.py"):
        py_compile.compile(str(module), doraise=True)
    app = next(nasty_project.glob("src/*/app.py"))
    assert _assigned_literal(app, "TITLE") == NASTY["project_name"]
    assert _assigned_literal(app, "DESCRIPTION") == NASTY["description"]


def test_free_text_survives_markdown(nasty_project: Path) -> None:
    text = _markdown_text((nasty_project / "README.md").read_text(encoding="utf-8"))
    assert NASTY["project_name"] in text
    assert NASTY["description"] in text


def test_free_text_keeps_the_project_formatted(nasty_project: Path) -> None:
    check_project(nasty_project)


def test_post_copy_task_creates_env_and_repository(render: Renderer) -> None:
    project = render({"concerns": ""}, skip_tasks=False)
    env = (project / ".env").read_text()
    secret = re.search(r"^SECRET_KEY=(.+)$", env, re.MULTILINE)
    assert secret is not None
    assert secret.group(1) != "change-me"
    assert len(secret.group(1)) >= 32
    assert stat.S_IMODE((project / ".env").stat().st_mode) == 0o600
    assert (project / ".git").is_dir()
    ignored = subprocess.run(
        ["git", "check-ignore", ".env"], cwd=project, capture_output=True, check=False
    )
    assert ignored.returncode == 0, ".env must be ignored by git"


def test_post_copy_task_keeps_an_existing_env(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text("SECRET_KEY=change-me\n")
    (tmp_path / ".env").write_text("SECRET_KEY=mine\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".env.example").write_text(
        "# SECRET_KEY=change-me\nA=change-me\r\nB=keep\n"
    )
    hook = ROOT / "hooks" / "post_copy.py"
    out = subprocess.run(
        ["python3", str(hook)], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    assert (tmp_path / ".env").read_text() == "SECRET_KEY=mine\n"
    assert "left as it is" in out
    out = subprocess.run(
        ["python3", str(hook)],
        cwd=tmp_path / "sub",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "already inside a git repository" in out
    assert not (tmp_path / "sub" / ".git").exists()
    with (tmp_path / "sub" / ".env").open(newline="") as env:
        lines = env.read().splitlines(keepends=True)
    assert lines[0] == "# SECRET_KEY=change-me\n"  # comments untouched
    assert lines[1].startswith("A=")
    assert lines[1].endswith("\r\n")
    assert "change-me" not in lines[1]
    assert lines[2] == "B=keep\n"


def test_generated_dependency_bounds_match_the_shared_environment(
    render: Renderer,
) -> None:
    """The environment that runs every generated project pins the same lower bounds
    as the generated pyproject.toml, so a passing run means something for users."""
    project = render()
    generated = tomllib.loads((project / "pyproject.toml").read_text())
    ours = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"][
        "generated"
    ]
    shared = {Requirement(r).name: Requirement(r) for r in ours}
    requirements = [
        *generated["project"]["dependencies"],
        *generated["dependency-groups"]["dev"],
    ]
    for line in requirements:
        requirement = Requirement(line)
        if requirement.name in {"mypy", "pytest", "pytest-timeout", "ruff"}:
            continue  # the template's dev group has these, with its own bounds
        assert requirement.name in shared, (
            f"{requirement.name} missing from the shared environment"
        )
        assert requirement.specifier == shared[requirement.name].specifier, (
            requirement.name
        )


def test_the_templates_own_code_passes_the_checks_projects_pass() -> None:
    """This repository's tests, hooks and benchmarks are held to what a generated
    project is: ruff's formatter and linter, and strict mypy (pyproject.toml)."""
    check_project(ROOT)


#: A line that carries Jinja: a tag, an expression or a comment, opened or closed.
JINJA = re.compile(r"\{\{|\{%|\{#|\}\}|%\}|#\}")


def _template_files() -> dict[str, list[str]]:
    """The lines of every file under template/ that git tracks, by path."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "template"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    return {
        path: (ROOT / path).read_text(encoding="utf-8").splitlines()
        for path in listed.split("\0")
        if path
    }


def test_template_files_are_code_with_jinja_at_the_seams() -> None:
    """At most 6 % of the template's lines carry Jinja (counted over every file,
    Jinja only in `.jinja` ones), and a file with no Jinja is not a `.jinja` file."""
    files = _template_files()
    jinja = {
        path: sum(1 for line in lines if JINJA.search(line))
        for path, lines in files.items()
        if path.endswith(".jinja")
    }
    assert [path for path, count in jinja.items() if count == 0] == []
    share = sum(jinja.values()) / sum(len(lines) for lines in files.values())
    assert share <= 0.06, f"{share:.2%} of the template's lines carry Jinja"


def test_defaults_render_is_the_full_matrix_combination(render: Renderer) -> None:
    """`--defaults` gives exactly the matrix's db-http-cpu-docker-github project, whose
    checks and suite test_matrix.py runs; this proves the two are the same."""
    from test_matrix import Combo

    defaults = render(name="defaults")
    full = render(
        Combo(db=True, http=True, files=False, blocking=False, cpu=True).answers,
        name="full",
    )

    def contents(project: Path) -> dict[str, bytes]:
        return {
            str(p.relative_to(project)): p.read_bytes()
            for p in project.rglob("*")
            if p.is_file() and p.name != ".copier-answers.yml"
        }

    assert contents(defaults) == contents(full)


def test_every_question_through_data(render: Renderer) -> None:
    project = render(
        {
            "project_name": "Billing Hub",
            "project_slug": "billing-hub",
            "package_name": "billing",
            "description": "Bills, invoices and currency rates.",
            "author_name": "Payments Team",
            "author_email": "payments@example.com",
            "concerns": "Invoices, currency rates, Scans, Mail Outbox, PDF Reports",
            "cpu_concerns": ["pdf_reports"],
            "http_concerns": ["currency_rates"],
            "file_concerns": ["scans"],
            "blocking_concerns": ["mail_outbox"],
            "docker": False,
            "ci": "gitlab",
        },
        name="all-data",
    )
    assert (project / "src" / "billing").is_dir()
    assert (project / "src" / "billing" / "mail_outbox" / "client.py").is_file()
    assert (project / "src" / "billing" / "scans" / "router.py").is_file()
    assert 'name = "billing-hub"' in (project / "pyproject.toml").read_text()
    # Its suite is not run: the wide project (tests/test_projects.py) runs one
    # over every kind with names of several words, longer ones and another package
    # name, and the matrix shows `docker` and `ci` change no Python file.
    check_project(project)
