"""/api/v1 system (in progress)."""
from __future__ import annotations
