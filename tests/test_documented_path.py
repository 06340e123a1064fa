"""The commands the READMEs give, run as written.

The commands are read out of README.md (the template's) and the generated
project's README.md, not typed again here, so a README that drifts from what
works fails these tests. Copier is the one `uvx` fetches, as for a user.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
import yaml

from helpers import (
    ROOT,
    Renderer,
    copier_copy,
    service_env,
    snapshot_template,
    without_this_environment,
)

#: A person at the prompt: accept what each question suggests.
PROMPT = "🎤"
IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}
IDENTITY_ENV = dict(os.environ) | IDENTITY


def console_blocks(markdown: str, heading: str) -> list[list[str]]:
    """The commands of every console block in the section `heading`."""
    section = markdown.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```console\n(.*?)```", section, flags=re.DOTALL)
    return [[line for line in block.splitlines() if line.strip()] for block in blocks]


def user_env(home: Path) -> dict[str, str]:
    """A user's shell: this repository's environment is not on PATH."""
    env = without_this_environment(service_env(home))
    env["HOME"] = os.environ.get("HOME", str(home))
    return env | IDENTITY


def shell(command: str, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, (
        f"`{command}` failed in {cwd}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout + result.stderr


def at_the_prompt(command: str, cwd: Path, env: dict[str, str]) -> str:
    """Run `command` in a terminal, pressing Enter at every question."""
    child = pexpect.spawn(
        "bash",
        ["-c", command],
        cwd=str(cwd),
        env=env | {"PROMPT_TOOLKIT_NO_CPR": "1"},
        encoding="utf-8",
        timeout=120,
        dimensions=(40, 200),
    )
    seen = ""
    try:
        while child.expect([PROMPT, pexpect.EOF]) == 0:
            seen += child.before or ""
            child.send("\r")
        seen += child.before or ""
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, seen[-4000:]
    return seen


def template_clone(parent: Path) -> Path:
    """A clone of this repository's template, committed: what a user has."""
    clone = snapshot_template(parent / "fastapi-split-template")
    (clone / "README.md").write_text((ROOT / "README.md").read_text())
    shell("git init -q -b main && git add -A && git commit -qm v1", clone, IDENTITY_ENV)
    return clone


def release_v2(clone: Path) -> str:
    """Commit a visible change to the template, as a new version would."""
    marker = "A line that only version 2 of the template has."
    readme = clone / "template" / "README.md.jinja"
    readme.write_text(
        readme.read_text().replace("## Health\n", f"## Health\n\n{marker}\n", 1)
    )
    shell("git commit -qam v2", clone, IDENTITY_ENV)
    return marker


def copy_command() -> str:
    [block, *_] = console_blocks((ROOT / "README.md").read_text(), "Generate a project")
    [command] = block
    return command


def update_commands(project: Path) -> tuple[str, str, str]:
    readme = (project / "README.md").read_text()
    [block] = console_blocks(readme, "Updating from the template")
    commit, plain, with_data = block
    return commit, plain, with_data


def test_copy_from_a_clone_then_update_as_the_readmes_say(tmp_path: Path) -> None:
    clone = template_clone(tmp_path / "work")
    env = user_env(tmp_path)
    command = copy_command()
    assert '"$PWD"' in command, command
    assert "../my-service" in command, command
    at_the_prompt(command, clone, env)

    project = clone.parent / "my-service"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["project_name"] == "My Service"
    assert answers["_src_path"] == str(clone)
    assert (project / ".env").exists()

    marker = release_v2(clone)
    commit, plain, with_data = update_commands(project)
    shell(commit, project, env)
    shell(plain, project, env)
    assert marker in (project / "README.md").read_text()
    assert not list(project.rglob("*.rej"))

    shell(commit, project, env)
    added = re.search(r'concerns="([^"]*)"', with_data)
    assert added is not None, with_data
    shell(with_data, project, env)
    new = [c.strip() for c in added.group(1).split(",")][-1]
    assert (project / "src" / "my_service" / new / "router.py").exists()
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["concerns"] == added.group(1)


def test_copy_from_a_repository_url_then_update(tmp_path: Path) -> None:
    clone = template_clone(tmp_path / "work")
    published = tmp_path / "published" / "fastapi-split-template.git"
    shell(
        f"git clone -q --bare {shlex.quote(str(clone))} {shlex.quote(str(published))}",
        tmp_path,
        IDENTITY_ENV,
    )
    url = f"git+file://{published}"
    [_, block] = console_blocks((ROOT / "README.md").read_text(), "Generate a project")
    [command] = block
    assert "<template-url>" in command, command
    env = user_env(tmp_path)
    at_the_prompt(command.replace("<template-url>", shlex.quote(url)), tmp_path, env)

    project = tmp_path / "my-service"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == url

    marker = release_v2(clone)
    shell(f"git push -q {shlex.quote(str(published))} main", clone, IDENTITY_ENV)
    commit, plain, _ = update_commands(project)
    shell(commit, project, env)
    shell(plain, project, env)
    assert marker in (project / "README.md").read_text()


@pytest.mark.parametrize(
    ("project_name", "package"),
    [
        ("Json", "json_service"),
        ("Celery", "celery_service"),
        ("Tests", "tests_service"),
    ],
)
def test_a_name_whose_package_would_be_invalid_gets_a_valid_default(
    template_dir: Path, tmp_path: Path, project_name: str, package: str
) -> None:
    """`--defaults` takes every suggestion: each must pass its own validator."""
    result = copier_copy(
        "--data", f"project_name={project_name}", str(template_dir), "out", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    answers = yaml.safe_load((tmp_path / "out" / ".copier-answers.yml").read_text())
    assert answers["package_name"] == package
    assert (tmp_path / "out" / "src" / package / "app.py").exists()


COMMANDS = """
import json, typer.main
from {package}.cli import app
group = typer.main.get_command(app)
print(json.dumps({{
    name: sorted(o for p in command.params for o in p.opts if o.startswith("--"))
    for name, command in group.commands.items()
}}))
"""


def test_the_readme_lists_every_command_with_its_options(render: Renderer) -> None:
    """The generated README's command table is the CLI's, command by command."""
    project = render(name="commands")
    result = subprocess.run(
        [sys.executable, "-c", COMMANDS.format(package="order_service")],
        env=service_env(project),
        capture_output=True,
        text=True,
        check=True,
    )
    actual = json.loads(result.stdout)
    readme = (project / "README.md").read_text()
    section = readme.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    documented = {}
    for usage in re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE):
        name, *rest = usage.split()
        documented[name] = sorted(re.findall(r"--[a-z-]+", " ".join(rest)))
    assert documented == {
        name: [o for o in opts if o != "--help"] for name, opts in actual.items()
    }
