"""The engines a worker can run, by name: each engine module registers its own here.

As gallery-dl's extractors do, an engine declares what it is and which URLs it takes, and
the picker (jobs/engines/picker.py) only asks: `name` is its word in webapp/core/vocabulary.py,
`claims(url)` whether it has something made for the URL, `claim_order` who is asked first.
One instance per engine serves every job (engines keep no per-job state on themselves).
"""
from __future__ import annotations

from jobs.engines.base import Engine

_engines: dict[str, Engine] = {}


def register(cls: type[Engine]) -> type[Engine]:
    """Class decorator: the engine's one instance, under its name."""
    engine = cls()
    if engine.name in _engines:
        raise ValueError(f"two engines are named {engine.name!r}")
    _engines[engine.name] = engine
    return cls


def get(name: str) -> Engine:
    """The engine registered as `name` (KeyError for a name no engine has)."""
    return _engines[name]


def names() -> tuple[str, ...]:
    return tuple(_engines)


def claimants() -> list[Engine]:
    """Every engine, in the order they are asked whether they claim a URL."""
    return sorted(_engines.values(), key=lambda engine: engine.claim_order)
