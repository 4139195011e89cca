"""Many extractors' URL patterns as one regex: the rewrite both tools' site matchers share.

Asking each of hundreds of extractor patterns in turn is slow, and a URL no site takes (the
most common kind) asks them all. Joined into one alternation the question is one pass; each
pattern must then match on its own exactly as it did alone, which `alternative` makes sure of
or refuses.
"""
from __future__ import annotations

import re

_SCOPABLE_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


def alternative(pattern: str, flags: int | None = None) -> str | None:
    """`pattern` rewritten to be one alternative of a joined regex, or None when it cannot be.

    `flags`: those the pattern is compiled with (a compiled pattern's `.flags`), when known; a
    flag given outside the pattern's text cannot be carried into the joined regex.
    """
    if "(?P=" in pattern or "(?(" in pattern or re.search(r"\\[1-9]", pattern):
        return None  # back-references and conditionals need their own groups' numbers and names
    inline = 0
    leading = re.match(r"\(\?([a-zA-Z]+)\)", pattern)
    if leading:
        letters = leading.group(1)
        if any(letter not in _SCOPABLE_FLAGS for letter in letters):
            return None  # ASCII or locale matching cannot be scoped
        for letter in letters:
            inline |= _SCOPABLE_FLAGS[letter]
        body = pattern[leading.end():]
        if "x" in letters:
            body += "\n"  # a verbose pattern's last comment runs to a line's end, not past our ")"
        pattern = f"(?{letters}:{body})"  # a leading global flag would apply to every alternative
    if flags is not None and flags & ~re.UNICODE != inline:
        return None
    return re.sub(r"\(\?P<\w+>", "(?:", pattern)  # group names would clash when joined
