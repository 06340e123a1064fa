"""Alembic migrations, shipped inside the package so `migrate` works wherever it is installed.

`alembic_config` is the one Alembic configuration: there is no `alembic.ini`.
The CLI's `migrate`, `makemigration` and `alembic` commands and the tests use it.
"""

import sys
from pathlib import Path

from alembic.config import Config


def alembic_config(database_url: str) -> Config:
    """Alembic's configuration for the migrations of this package on `database_url`."""
    # Alembic's default output stream is the one at its import; name today's.
    config = Config(stdout=sys.stdout)
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["database_url"] = database_url
    # New revision files come out formatted and linted like the rest of the code.
    config.set_section_option("post_write_hooks", "hooks", "format, fix")
    for name, options in (("format", "format"), ("fix", "check --fix --quiet")):
        config.set_section_option("post_write_hooks", f"{name}.type", "module")
        config.set_section_option("post_write_hooks", f"{name}.module", "ruff")
        config.set_section_option(
            "post_write_hooks", f"{name}.options", f"{options} REVISION_SCRIPT_FILENAME"
        )
    return config
