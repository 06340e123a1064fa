"""Copier's post-copy task: finish what a template cannot render.

Runs in the new project's folder (copier needs `--trust` to run it). Standard
library only, because it runs on copier's interpreter, not the project's.

- `.env` is created from `.env.example`, each placeholder secret replaced by a
  fresh random one, unless `.env` already exists (it is never overwritten).
- The project becomes a git repository unless it already sits inside one.

Every step is optional: a project copied with `--skip-tasks` still works, and
its README says how to do these steps by hand.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from pathlib import Path

PLACEHOLDER = "change-me"


def fill_secrets(example: str) -> str:
    """`example` with every `KEY=change-me` line given a fresh secret."""
    lines = []
    for line in example.splitlines(keepends=True):
        key, sep, value = line.partition("=")
        if sep and not key.lstrip().startswith("#") and value.strip() == PLACEHOLDER:
            ending = line[len(line.rstrip("\r\n")) :]
            line = f"{key}={secrets.token_urlsafe(48)}{ending}"
        lines.append(line)
    return "".join(lines)


def create_env(project: Path) -> str:
    env, example = project / ".env", project / ".env.example"
    if env.exists():
        return ".env exists already; left as it is."
    if not example.exists():
        return "no .env.example to copy."
    # newline="" keeps the example's line endings as they are.
    with example.open(encoding="utf-8", newline="") as source:
        text = fill_secrets(source.read())
    # Created with owner-only permissions: it holds secrets.
    env.touch(mode=0o600)
    with env.open("w", encoding="utf-8", newline="") as target:
        target.write(text)
    return "created .env with fresh secrets."


def init_git(project: Path) -> str:
    git = shutil.which("git")
    if git is None:
        return "git is not installed; skipped `git init`."
    inside = subprocess.run(
        [git, "rev-parse", "--is-inside-work-tree"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    if inside.returncode == 0 and inside.stdout.strip() == "true":
        return "already inside a git repository; skipped `git init`."
    subprocess.run([git, "init", "--quiet"], cwd=project, check=True)
    return "initialised a git repository."


def main() -> int:
    project = Path.cwd()
    for step in (create_env, init_git):
        print(f"  post-copy: {step(project)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
