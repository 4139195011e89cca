"""The rewrite that lets many extractor patterns be joined into one regex (jobs/engines/joined_patterns.py)."""
import re

import pytest

from jobs.engines.joined_patterns import alternative


def joined_matches(patterns, url):
    """Which of `patterns` the joined regex says matches first (by a marker group after each)."""
    joined = re.compile("|".join(f"(?:{alternative(p)})(?P<m{i}>)" for i, p in enumerate(patterns)))
    match = joined.match(url)
    return None if match is None else next(int(k[1:]) for k, v in match.groupdict().items() if v is not None)


def test_group_names_and_leading_flags_do_not_clash_when_joined():
    patterns = [r"(?i)https?://A\.example/(?P<id>\d+)", r"https?://b\.example/(?P<id>\w+)"]
    assert joined_matches(patterns, "HTTPS://a.EXAMPLE/12") == 0
    assert joined_matches(patterns, "https://b.example/x") == 1
    assert joined_matches(patterns, "HTTPS://B.example/x") is None  # the first one's (?i) stays its own


def test_a_verbose_pattern_ending_in_a_comment_does_not_swallow_the_next():
    patterns = [r"(?x)https?://v\.example/(?P<id>\d+)  # the numeric id", r"https?://w\.example/"]
    assert joined_matches(patterns, "https://v.example/7") == 0
    assert joined_matches(patterns, "https://w.example/") == 1


@pytest.mark.parametrize("pattern", [r"(?P<a>x)(?P=a)", r"(x)\1", r"(?P<a>x)?(?(a)y|z)", r"(?a)x"])
def test_what_cannot_be_joined_is_refused(pattern):
    assert alternative(pattern) is None


def test_flags_given_outside_the_text_are_refused():
    assert alternative("x", re.compile("x", re.IGNORECASE).flags) is None
    assert alternative("(?i)x", re.compile("(?i)x").flags) == "(?i:x)"
