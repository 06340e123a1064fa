"""Loads every module of `tests/support/` as a plugin: the fixtures of each kind of
server this service uses, the core ones that put them together, and the helpers
they share (pytest rewrites the asserts of a module only if it loads it before
another imports it)."""

from pathlib import Path

pytest_plugins = [
    f"tests.support.{module.stem}"
    for module in sorted((Path(__file__).parent / "support").glob("*.py"))
    if module.stem != "__init__"
]
