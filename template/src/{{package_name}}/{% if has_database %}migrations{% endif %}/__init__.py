"""Alembic migrations, shipped inside the package so `migrate` works wherever it is installed."""
