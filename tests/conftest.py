"""Fixtures for testing the template; the helpers they use are in helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import Renderer, snapshot_template


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return snapshot_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
def render(template_dir: Path, tmp_path: Path) -> Renderer:
    return Renderer(template_dir, tmp_path)
