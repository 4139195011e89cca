"""Invite management routes (being built)."""
from webapp.invites import bp  # noqa: F401
