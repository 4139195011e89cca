"""Whole numbers from text people and clients send.

str.isdigit() is true for "³" and "٣", which int() then refuses or reads as another number:
every id, page, offset or count from a request is checked here, ASCII digits only.
"""
from __future__ import annotations


def is_whole_number(text: str, max_digits: int = 19) -> bool:
    """Whether `text` is 1 to `max_digits` ASCII digits (19 keeps it inside a 64-bit integer)."""
    return 0 < len(text) <= max_digits and text.isascii() and text.isdigit()


def whole_number(text, max_digits: int = 19) -> int | None:
    """`text` as an int when it is a whole number (is_whole_number), else None."""
    text = str(text if text is not None else "").strip()
    return int(text) if is_whole_number(text, max_digits) else None
