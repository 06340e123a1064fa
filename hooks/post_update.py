"""Copier's post-update task: keep the user's `.env` in step with the settings.

Runs in the project's folder after `copier update --trust`, on copier's
interpreter (standard library only). The service refuses unknown keys in
`.env`, so a key whose setting the update removed (the URL of an external API
that is no longer a concern) would stop it from starting. This task:

- comments out each `.env` key that is no longer a field of `Settings`, saying
  why on the line itself, so nothing the user wrote is lost;
- names the keys `.env.example` has and `.env` lacks (a new concern's URL):
  their defaults apply until the user sets them;
- prints one line per finding, so the update says exactly what it did.

Usage: post_update.py PACKAGE_NAME
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

RETIRED = "# no longer a setting (copier update): "


def setting_names(settings_py: Path) -> set[str] | None:
    """The field names of the `Settings` class, upper-cased as in `.env`."""
    tree = ast.parse(settings_py.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Settings":
            return {
                item.target.id.upper()
                for item in node.body
                if isinstance(item, ast.AnnAssign)
                and isinstance(item.target, ast.Name)
                and item.target.id != "model_config"
            }
    return None


def key_of(line: str) -> str | None:
    """The key a `KEY=value` line sets, or None for comments and blank lines."""
    text = line.strip()
    if not text or text.startswith("#") or "=" not in text:
        return None
    return text.partition("=")[0].strip().removeprefix("export ").strip().upper()


def reconcile(env: str, example: str, known: set[str]) -> tuple[str, list[str]]:
    """`env` with unknown keys commented out, and what there is to say about it."""
    said: list[str] = []
    kept: list[str] = []
    present: set[str] = set()
    for line in env.splitlines(keepends=True):
        key = key_of(line)
        if key is not None and key not in known:
            kept.append(RETIRED + line)
            said.append(f"{key} is no longer a setting: commented it out in .env.")
            continue
        if key is not None:
            present.add(key)
        kept.append(line)
    for line in example.splitlines():
        key = key_of(line)
        if key is not None and key in known and key not in present:
            said.append(f"{key} is in .env.example, not in .env: its default applies.")
    return "".join(kept), said


def main(argv: list[str]) -> int:
    project = Path.cwd()
    env, example = project / ".env", project / ".env.example"
    settings_py = project / "src" / argv[1] / "settings.py"
    if not env.exists() or not settings_py.exists():
        print("  post-update: no .env to check.")
        return 0
    known = setting_names(settings_py)
    if known is None:
        print(f"  post-update: no Settings class in {settings_py}; .env left as is.")
        return 0
    with env.open(encoding="utf-8", newline="") as source:
        current = source.read()
    template = ""
    if example.exists():
        with example.open(encoding="utf-8", newline="") as source:
            template = source.read()
    updated, said = reconcile(current, template, known)
    if updated != current:
        with env.open("w", encoding="utf-8", newline="") as target:
            target.write(updated)
    for line in said or [".env matches the settings."]:
        print(f"  post-update: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
