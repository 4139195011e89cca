"""Finding the links in what people paste: one per line, or text with links in it."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from webapp.core.urls import UrlProblem, normalise_url

# A link runs until whitespace, a quote or an angle bracket.
_LINK_RE = re.compile(r"""https?://[^\s<>"'`]+""", re.IGNORECASE)
# Punctuation that ends a sentence rather than the link ("see https://x.org/a.").
_TRAILING = ".,;:!?)]}»"


@dataclass
class ParsedLinks:
    urls: list[str] = field(default_factory=list)  # as typed, in order, without repeats
    problems: list[dict] = field(default_factory=list)  # {"line", "text", "reason"}


def _trim(link: str) -> str:
    while link and link[-1] in _TRAILING:
        # Keep a closing bracket that belongs to the link: .../Foo_(bar)
        if link[-1] == ")" and link.count("(") >= link.count(")"):
            break
        link = link[:-1]
    return link


def parse_links(text: str, limit: int = 200) -> ParsedLinks:
    """Every link in `text`; a non-empty line with no link, or a link that is not valid, is a problem."""
    parsed = ParsedLinks()
    seen: set[str] = set()
    for number, line in enumerate((text or "").splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        found = [_trim(m) for m in _LINK_RE.findall(stripped)]
        if not found:
            reason = "not a link (links start with http:// or https://)"
            parsed.problems.append({"line": number, "text": stripped[:200], "reason": reason})
            continue
        for link in found:
            try:
                normalise_url(link)
            except UrlProblem as exc:
                parsed.problems.append({"line": number, "text": link[:200], "reason": str(exc)})
                continue
            if link not in seen:
                seen.add(link)
                parsed.urls.append(link)
    if len(parsed.urls) > limit:
        extra = parsed.urls[limit:]
        parsed.urls = parsed.urls[:limit]
        parsed.problems.append({"line": None, "text": f"{len(extra)} more links",
                                "reason": f"at most {limit} links at once; send the rest separately"})
    return parsed
