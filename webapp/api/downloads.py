"""/api/v1 downloads (in progress)."""
from __future__ import annotations
