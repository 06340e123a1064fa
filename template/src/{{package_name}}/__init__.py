"""The service's package. README.md describes its layout."""
