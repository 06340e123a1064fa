"""Benchmarks of the service: a development tool, not shipped in the package."""
