"""Loads the shared fixtures, which live in `tests/support/fixtures.py`."""

pytest_plugins = ["tests.support.fixtures"]
