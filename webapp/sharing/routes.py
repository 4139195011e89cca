"""Sharing routes (being built)."""
from webapp.sharing import bp  # noqa: F401
