"""/api/v1 settings (in progress)."""
from __future__ import annotations
