"""Every rule on the answers, with good answers that pass and bad ones that fail
with a message of their own. Answers go in through `data` (what `--data` and
`--data-file` feed), which copier validates with the same validators as the prompt;
test_prompt.py drives the prompt itself."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import ROOT, Renderer, answers_for, copier_copy

GOOD: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "slug and package follow the name",
        {"project_name": "Order Service"},
        {"project_slug": "order-service", "package_name": "order_service"},
    ),
    (
        "accented letters lose their accents in the slug",
        {"project_name": "Ünïcode Shop"},
        {"project_slug": "unicode-shop", "package_name": "unicode_shop"},
    ),
    (
        "ligatures and sharp s are spelled out",
        {"project_name": "Œuvre Straße Æther"},
        {"project_slug": "oeuvre-strasse-aether"},
    ),
    (
        "a package the slug suggests that Python cannot use gets a suffix",
        {"project_name": "Json"},
        {"project_slug": "json", "package_name": "json_service"},
    ),
    (
        "a keyword package gets a suffix too",
        {"project_name": "Lambda"},
        {"package_name": "lambda_service"},
    ),
    (
        "a long slug suggests a package cut to fit",
        {"project_name": "A Very Long Name For A Service That Goes On And On"},
        {"package_name": "a_very_long_name_for_a_service_t"},
    ),
    (
        "a name with no letters suggests the slug 'service'",
        {"project_name": "2048"},
        {"project_slug": "service", "package_name": "service"},
    ),
    (
        "slug drops leading digits and punctuation",
        {"project_name": "2048 Games!"},
        {"project_slug": "games", "package_name": "games"},
    ),
    (
        "explicit slug and package",
        {"project_slug": "svc-2", "package_name": "svc_two"},
        {"project_slug": "svc-2", "package_name": "svc_two"},
    ),
    (
        "concerns are normalised",
        {"concerns": " Order Items, weather-API ,ThumbnailJobs"},
        {"concern_list": ["order_items", "weather_api", "thumbnail_jobs"]},
    ),
    (
        "empty concerns give a bare service",
        {"concerns": ""},
        {
            "concern_list": [],
            "cpu_concerns": [],
            "http_concerns": [],
            "file_concerns": [],
            "blocking_concerns": [],
            "db_concerns": [],
            "has_database": False,
            "has_http": False,
            "has_files": False,
            "has_blocking": False,
            "has_worker": False,
        },
    ),
    (
        "defaults split the example concerns three ways",
        {},
        {
            "concern_list": ["orders", "weather", "thumbnails"],
            "cpu_concerns": ["thumbnails"],
            "http_concerns": ["weather"],
            "blocking_concerns": [],
            "db_concerns": ["orders"],
            "has_database": True,
            "has_http": True,
            "has_blocking": False,
            "has_worker": True,
        },
    ),
    (
        "kinds follow the multiselects",
        {
            "concerns": "reports, billing, geo, ledger",
            "cpu_concerns": ["reports"],
            "http_concerns": ["geo", "billing"],
        },
        {
            "io_concerns": ["billing", "geo", "ledger"],
            "http_concerns": ["billing", "geo"],
            "db_concerns": ["ledger"],
            "has_worker": True,
        },
    ),
    (
        "each I/O question offers what the ones before it left",
        {
            "concerns": "reports, billing, geo, ledger, mailer, notifications",
            "cpu_concerns": ["reports"],
            "http_concerns": ["geo"],
            "blocking_concerns": ["mailer", "billing"],
        },
        {
            "unasked_after_http": ["billing", "ledger", "mailer", "notifications"],
            "unasked_after_files": ["billing", "ledger", "mailer", "notifications"],
            "blocking_concerns": ["billing", "mailer"],  # in the choices' order
            "db_concerns": ["ledger", "notifications"],
            "has_blocking": True,
            "has_http": True,
        },
    ),
    (
        "files come after external APIs and before blocking libraries",
        {
            "concerns": "scans, geo, mailer, ledger",
            "http_concerns": ["geo"],
            "file_concerns": ["scans", "mailer"],
            "blocking_concerns": [],
        },
        {
            "unasked_after_http": ["scans", "mailer", "ledger"],
            "unasked_after_files": ["ledger"],
            "file_concerns": ["scans", "mailer"],
            "db_concerns": ["ledger"],
            "has_files": True,
            "has_blocking": False,
        },
    ),
    (
        "a concern named documents is proposed as files",
        {"concerns": "orders, documents"},
        {"file_concerns": ["documents"], "db_concerns": ["orders"]},
    ),
    (
        "a concern named notifications is proposed as blocking",
        {"concerns": "orders, notifications"},
        {"blocking_concerns": ["notifications"], "db_concerns": ["orders"]},
    ),
    (
        "all external APIs: the blocking question is not asked",
        {"concerns": "a, b", "http_concerns": ["a", "b"]},
        {"blocking_concerns": [], "db_concerns": [], "has_blocking": False},
    ),
    (
        "all CPU-bound: the http question is not asked",
        {"concerns": "a, b", "cpu_concerns": ["a", "b"]},
        {"io_concerns": [], "http_concerns": [], "has_database": False},
    ),
    (
        "a 28-character concern",
        {"concerns": "a" * 28},
        {"concern_list": ["a" * 28]},
    ),
    (
        "plus-addressed email",
        {"author_email": "first.last+svc@mail.example.co.uk"},
        {"author_email": "first.last+svc@mail.example.co.uk"},
    ),
    (
        "free text may hold quotes, braces and unicode",
        {"description": 'Say "hi" {{ x }} \\ café ☕', "author_name": "Zoë O'Brien"},
        {"description": 'Say "hi" {{ x }} \\ café ☕', "author_name": "Zoë O'Brien"},
    ),
]


@pytest.mark.parametrize(
    ("answers", "expected"),
    [pytest.param(a, e, id=name) for name, a, e in GOOD],
)
def test_good_answers(
    template_dir: Path, answers: dict[str, Any], expected: dict[str, Any]
) -> None:
    result = answers_for(template_dir, answers)
    assert {key: result[key] for key in expected} == expected


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("empty project name", {"project_name": "  "}, "project name cannot be empty"),
    (
        "multi-line project name",
        {"project_name": "a\nb"},
        "project name must be a single line",
    ),
    (
        "slug with capitals",
        {"project_slug": "Order"},
        "The project slug 'Order' is not valid.",
    ),
    (
        "slug with underscore",
        {"project_slug": "order_svc"},
        "The project slug 'order_svc' is not valid. Use lowercase letters, digits and hyphens",
    ),
    (
        "slug ending in hyphen",
        {"project_slug": "order-"},
        "'order-' ends with a hyphen.",
    ),
    (
        "slug with a trailing newline",
        {"project_slug": "order\n"},
        "slug 'order\n' is not valid",
    ),
    (
        "package starting with a digit",
        {"package_name": "1svc"},
        "The package name '1svc' is not valid.",
    ),
    (
        "package with a hyphen",
        {"package_name": "order-svc"},
        "The package name 'order-svc' is not valid. Use lowercase letters, digits and underscores",
    ),
    (
        "package with a trailing newline",
        {"package_name": "svc\n"},
        "package name 'svc\n' is not valid",
    ),
    (
        "package is a keyword",
        {"package_name": "lambda"},
        "'lambda' is a Python keyword",
    ),
    (
        "package is a stdlib module",
        {"package_name": "json"},
        "'json' is a standard-library module",
    ),
    (
        "package shadows a dependency",
        {"package_name": "celery"},
        "'celery' is a dependency's import name.",
    ),
    (
        "package named like a project folder",
        {"package_name": "tests"},
        "'tests' is a folder of the generated project.",
    ),
    (
        "description with a newline",
        {"description": "one\ntwo"},
        "description must be a single line",
    ),
    ("author with a tab", {"author_name": "a\tb"}, "author name must be a single line"),
    ("empty author", {"author_name": ""}, "author name cannot be empty"),
    ("email without @", {"author_email": "someone"}, "'someone' is not an address"),
    (
        "email without domain dot",
        {"author_email": "a@localhost"},
        "'a@localhost' is not an address",
    ),
    (
        "email with spaces",
        {"author_email": "a b@example.com"},
        "'a b@example.com' is not an address",
    ),
    (
        "email with a trailing newline",
        {"author_email": "a@example.com\n"},
        "'a@example.com\n' is not an address",
    ),
    (
        "concern not an identifier",
        {"concerns": "orders, 9lives"},
        "Concern '9lives' is not a valid name.",
    ),
    (
        "concern with non-ASCII letters",
        {"concerns": "cafés"},
        "Concern 'cafés' is not a valid name",
    ),
    (
        "concern with punctuation",
        {"concerns": "orders!"},
        "Concern 'orders!' is not a valid name",
    ),
    (
        "concern is a keyword",
        {"concerns": "orders, class"},
        "Concern 'class' is a Python keyword.",
    ),
    (
        "concern duplicated after normalisation",
        {"concerns": "Order Items, order-items"},
        "Concern 'order-items' (as 'order_items') is listed twice.",
    ),
    (
        "concern the project uses itself",
        {"concerns": "orders, Health"},
        "Concern 'Health' (as 'health') is reserved.",
    ),
    (
        "concern named like a module",
        {"concerns": "worker"},
        "Concern 'worker' is reserved.",
    ),
    (
        "concern named like a module the issue found accepted",
        {"concerns": "orders, resources"},
        "Concern 'resources' is reserved.",
    ),
    (
        "concern named like a test module",
        {"concerns": "benchmark"},
        "Concern 'benchmark' is reserved.",
    ),
    (
        "concern named like a test module of the project's own",
        {"concerns": "orders, test_health"},
        "Concern 'test_health' starts with 'test_'",
    ),
    (
        "concerns with spaces but no commas",
        {"concerns": "orders weather thumbnails"},
        "For several concerns write 'orders, weather, thumbnails'",
    ),
    (
        "one concern with spaces and no commas is ambiguous too",
        {"concerns": "Order Items"},
        "for one, join the words: 'order_items'",
    ),
    (
        "an empty item between commas",
        {"concerns": "orders,,weather"},
        "The concern list has an empty item.",
    ),
    (
        "a trailing comma",
        {"concerns": "orders, weather,"},
        "Separate concerns with single commas, and end without one.",
    ),
    ("concern too long", {"concerns": "a" * 29}, "is too long"),
    (
        "concerns with the same row name",
        {"concerns": "order, orders"},
        "Concerns 'order' and 'orders' share one row name.",
    ),
    (
        "concern whose model class is taken",
        {"concerns": "bases"},
        "would name its model 'Base'.",
    ),
    (
        "package name too long",
        {"package_name": "p" * 33},
        "is too long. Keep it to 32 characters.",
    ),
    (
        "cpu concern not among the concerns",
        {"cpu_concerns": ["nope"]},
        "Invalid choice for 'cpu_concerns': 'nope'",
    ),
    (
        "cpu concern given un-normalised",
        {"concerns": "Order Items, misc", "cpu_concerns": ["Order Items"]},
        "Invalid choice for 'cpu_concerns': 'Order Items'",
    ),
    (
        "http concern that is CPU-bound",
        {"cpu_concerns": ["thumbnails"], "http_concerns": ["thumbnails"]},
        "Invalid choice for 'http_concerns': 'thumbnails'",
    ),
    (
        "blocking concern that calls an external HTTP API",
        {
            "concerns": "orders, weather",
            "http_concerns": ["weather"],
            "blocking_concerns": ["weather"],
        },
        "Invalid choice for 'blocking_concerns': 'weather'",
    ),
    (
        "blocking concern that stores files",
        {
            "concerns": "docs2, x",
            "file_concerns": ["docs2"],
            "blocking_concerns": ["docs2"],
        },
        "Invalid choice for 'blocking_concerns': 'docs2'",
    ),
    (
        "file concern that calls an external HTTP API",
        {"concerns": "a, b", "http_concerns": ["a"], "file_concerns": ["a"]},
        "Invalid choice for 'file_concerns': 'a'",
    ),
    (
        "blocking concern that is CPU-bound",
        {"cpu_concerns": ["thumbnails"], "blocking_concerns": ["thumbnails"]},
        "Invalid choice for 'blocking_concerns': 'thumbnails'",
    ),
    (
        "blocking concern not among the concerns",
        {"blocking_concerns": ["mail"]},
        "Invalid choice for 'blocking_concerns': 'mail'",
    ),
    ("unknown CI", {"ci": "jenkins"}, "Invalid choice for 'ci': 'jenkins'"),
]


@pytest.mark.parametrize(
    ("answers", "message"),
    [pytest.param(a, m, id=name) for name, a, m in BAD],
)
def test_bad_answers(template_dir: Path, answers: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        answers_for(template_dir, answers)


@pytest.mark.parametrize(
    "answers",
    [pytest.param(a, id=name) for name, a, m in BAD if "Invalid choice" not in m],
)
def test_messages_read_in_80_columns(
    template_dir: Path, answers: dict[str, Any]
) -> None:
    """The first sentence says what is wrong and fits an 80-column terminal;
    what to do instead may follow."""
    with pytest.raises(ValueError, match="Validation error") as caught:
        answers_for(template_dir, answers)
    message = str(caught.value).split(": ", 1)[1]
    first = re.split(r"(?<=[.:;])\s", message, maxsplit=1)[0]
    assert len(first) <= 80, first


def test_bad_answers_have_distinct_messages() -> None:
    messages = [message for _, _, message in BAD]
    assert len(set(messages)) == len(messages)


def test_data_file_is_validated(template_dir: Path, tmp_path: Path) -> None:
    answers = tmp_path / "answers.yml"
    answers.write_text(yaml.safe_dump({"project_name": "Svc", "concerns": "jobs"}))
    result = copier_copy(
        "--data-file", str(answers), str(template_dir), "out", cwd=tmp_path
    )
    assert result.returncode != 0
    assert "Concern 'jobs' is reserved." in result.stderr
    assert not (tmp_path / "out").exists(), "a refused answer must leave nothing behind"


def test_data_file_good_answers_render(template_dir: Path, tmp_path: Path) -> None:
    answers = tmp_path / "answers.yml"
    answers.write_text(
        yaml.safe_dump(
            {"project_name": "Svc", "concerns": "Order Items, misc", "docker": False}
        )
    )
    result = copier_copy(
        "--data-file", str(answers), str(template_dir), "out", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    recorded = yaml.safe_load((tmp_path / "out" / ".copier-answers.yml").read_text())
    assert recorded["concerns"] == "Order Items, misc"
    assert recorded["docker"] is False


def test_cli_data_is_validated(template_dir: Path, tmp_path: Path) -> None:
    result = copier_copy(
        "--data",
        "project_name=Svc",
        "--data",
        "package_name=asyncio",
        str(template_dir),
        "out",
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "'asyncio' is a standard-library module" in result.stderr
    assert not (tmp_path / "out").exists()


def test_stdlib_list_covers_this_interpreter() -> None:
    macros = (ROOT / "includes" / "macros.jinja").read_text()
    block = macros.split("set stdlib_modules = [", 1)[1].split("]", 1)[0]
    listed = set(re.findall(r'"([a-z0-9_]+)"', block))
    public = {
        name.lower() for name in sys.stdlib_module_names if not name.startswith("_")
    }
    assert public - listed == set()


def names_the_project_uses(project: Path, package: str) -> set[str]:
    """Every module and package name of the generated package and its tests,
    other than the concerns' own: a concern named like one would collide."""
    src = project / "src" / package
    concerns = {p.name for p in src.iterdir() if (p / "router.py").exists()}
    names = {
        p.stem
        for p in src.iterdir()
        if (p.suffix == ".py" or p.is_dir()) and not p.name.startswith("__")
    } - concerns
    for path in (project / "tests").glob("*.py"):
        stem = path.stem.removeprefix("test_")
        if stem not in concerns and not path.name.startswith("__"):
            names.add(stem)
    return names


def test_every_name_the_project_uses_is_reserved(
    render: Renderer, template_dir: Path
) -> None:
    """The reserved list cannot drift from what the template generates: the
    fullest project's own module names are each refused as a concern."""
    project = render(name="fullest")
    names = names_the_project_uses(project, "order_service")
    assert {"app", "concerns", "db", "jobs", "resources", "upstream"} <= names
    for name in sorted(names):
        with pytest.raises(ValueError, match=f"Concern '{name}' is reserved"):
            answers_for(template_dir, {"concerns": name})
    # A concern's tests are a package named after it, beside the project's own
    # test modules: `test_health` would be both tests/test_health/ and .py.
    for path in sorted((project / "tests").glob("test_*.py")):
        with pytest.raises(ValueError, match=f"Concern '{path.stem}' starts with"):
            answers_for(template_dir, {"concerns": path.stem})
