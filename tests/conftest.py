"""Fixtures for testing the template; the helpers they use are in helpers.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import Renderer, snapshot_template


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, hand a worker one test at a time beyond its first two
    (`--maxschedchunk 1`, unless the command line says otherwise): the order of
    pytest_collection_modifyitems is then the order in which tests start."""
    if getattr(config.option, "maxschedchunk", 0) is None:
        config.option.maxschedchunk = 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first, slowest first, so that the run does not end with one
    worker still busy with a test of several minutes while the others are idle
    (collected last, the slowest used to start last). A worker's first two tests
    are handed to it at once: there, each slow test is paired with a quick one
    rather than with another slow one."""

    def seconds(item: pytest.Item) -> float:
        marker = item.get_closest_marker("slow")
        return 0.0 if marker is None else float(marker.kwargs.get("seconds", 60))

    ordered = sorted(items, key=seconds, reverse=True)
    count = sum(1 for item in ordered if seconds(item) > 0)
    slow, others = ordered[:count], ordered[count:]
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    pairs = min(workers, len(slow), len(others))
    first = [
        item for pair in zip(slow[:pairs], others[:pairs], strict=True) for item in pair
    ]
    items[:] = first + slow[pairs:] + others[pairs:]


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return snapshot_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
def render(template_dir: Path, tmp_path: Path) -> Renderer:
    return Renderer(template_dir, tmp_path)
