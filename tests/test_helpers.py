"""The helpers' own guarantees that the other tests rely on."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from helpers import run


def test_a_command_past_its_timeout_fails_and_leaves_no_process(tmp_path: Path) -> None:
    """A hung suite fails the test, and its children (a suite's Celery workers) do
    not outlive it: the whole session of the command is killed."""
    pids = tmp_path / "pids"
    script = f"sleep 60 >/dev/null 2>&1 & echo $! > {pids}; echo started; sleep 60"
    with pytest.raises(
        pytest.fail.Exception, match=r"did not end within 2 s(.|\n)*started"
    ):
        run(["bash", "-c", script], tmp_path, timeout=2)
    child = int(pids.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail(f"the command's child {child} outlived it")


def test_a_failing_command_fails_the_test_with_its_output(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"exit 3(.|\n)*said so"):
        run(["bash", "-c", "echo said so; exit 3"], tmp_path)
