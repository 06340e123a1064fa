"""`python -m <package>` runs the CLI."""

from .cli import app

app(prog_name=f"python -m {__package__}")
