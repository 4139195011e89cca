"""Sizes and rates as people type them: "5M", "500K", "2 GiB", "1.5MB/s" -> bytes.

The units are powers of 1024, as `readable.human_bytes` shows sizes (K = KiB, M = MiB,
G = GiB, T = TiB): a limit typed as "5M" shows again as "5.0 MB". A bare number is bytes.
"""
from __future__ import annotations

import re

_FACTORS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?(?:\s*/\s*s)?", re.IGNORECASE)


def parse_size(raw) -> int:
    """Bytes from an int or a text such as "5M", "500 KiB", "2GB", "1.5M/s"; ValueError otherwise."""
    if isinstance(raw, bool):
        raise ValueError("not a size")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        if raw != raw or raw in (float("inf"), float("-inf")):
            raise ValueError("not a size")
        return int(raw)
    text = str(raw if raw is not None else "").strip()
    match = _SIZE.fullmatch(text)
    if not match or len(text) > 40:
        raise ValueError("not a size")
    return int(float(match.group(1)) * _FACTORS[match.group(2).lower()])


def short_size(value: int) -> str:
    """The shortest exact spelling parse_size reads back: 5242880 -> "5M", 1536 -> "1536"."""
    for unit in ("T", "G", "M", "K"):
        factor = _FACTORS[unit.lower()]
        if value and value % factor == 0:
            return f"{value // factor}{unit}"
    return str(value)
