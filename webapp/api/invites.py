"""Invite links: /api/v1/invites (being built)."""
