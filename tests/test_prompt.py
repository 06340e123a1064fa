"""The interactive prompt, driven through a pseudo-terminal: bad answers are refused
in place with their message, and the person can correct them."""

from __future__ import annotations

import os
from pathlib import Path

import pexpect
import yaml

from helpers import BIN

CLEAR_LINE = "\x15"  # Ctrl-U: discard what the prompt holds before retyping


def copier_at_the_prompt(template_dir: Path, out: Path) -> pexpect.spawn[str]:
    """`copier copy` in a pseudo-terminal, waiting for answers."""
    return pexpect.spawn(
        str(BIN / "copier"),
        ["copy", "--trust", "--skip-tasks", str(template_dir), str(out)],
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 200),
        env={**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1"},
    )


def test_prompt_refuses_bad_answers_and_accepts_corrections(
    template_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    child = copier_at_the_prompt(template_dir, out)
    steps = [
        ("as people write it", CLEAR_LINE + "\r"),
        ("The project name cannot be empty", "Billing\r"),
        ("Distribution and command name", "\r"),
        ("Python import name", CLEAR_LINE + "json\r"),
        ("'json' is a standard-library module", CLEAR_LINE + "billing_svc\r"),
        ("One line saying", "\r"),
        ("Author or team name", "\r"),
        ("Author or team email", CLEAR_LINE + "nobody\r"),
        ("'nobody' is not an address", CLEAR_LINE + "team@example.com\r"),
        (r"concerns \(domains\)", CLEAR_LINE + "Invoices, invoices\r"),
        ("'invoices' is listed twice", CLEAR_LINE + "Invoices, fx rates, pdf\r"),
        ("CPU-bound", "\r"),
        ("external HTTP API", "\r"),
        ("store and serve files", "\r"),
        # The next question offers what is left; Space picks the first (invoices).
        (r"blocking \(sync-only\) client library", " \r"),
        ("container image", "\r"),
        ("CI service", "\r"),
        ("Add a benchmark", "\r"),
    ]
    try:
        for expected, reply in steps:
            child.expect(expected)
            child.send(reply)
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    answers = yaml.safe_load((out / ".copier-answers.yml").read_text())
    assert answers["project_name"] == "Billing"
    assert answers["package_name"] == "billing_svc"
    assert answers["author_email"] == "team@example.com"
    assert answers["concerns"] == "Invoices, fx rates, pdf"
    assert answers["blocking_concerns"] == ["invoices"]
    assert (out / "src" / "billing_svc" / "invoices" / "client.py").is_file()
    assert (out / "src" / "billing_svc" / "fx_rates" / "models.py").is_file()


def test_a_name_whose_package_would_be_invalid_is_asked_with_a_valid_default(
    template_dir: Path, tmp_path: Path
) -> None:
    """`Json` suggests the package `json`, a standard-library module: the prompt
    suggests `json_service` instead, and Enter at every question renders."""
    out = tmp_path / "out"
    child = copier_at_the_prompt(template_dir, out)
    try:
        child.expect("as people write it")
        child.send(CLEAR_LINE + "Json\r")
        child.expect("Distribution and command name")
        child.send("\r")
        child.expect("Python import name")
        child.expect("json_service")
        child.send("\r")
        while child.expect(["🎤", pexpect.EOF]) == 0:
            child.send("\r")
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before
    answers = yaml.safe_load((out / ".copier-answers.yml").read_text())
    assert answers["project_slug"] == "json"
    assert answers["package_name"] == "json_service"
    assert (out / "src" / "json_service" / "app.py").is_file()
