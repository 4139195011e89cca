"""/api/v1 users (in progress)."""
from __future__ import annotations
