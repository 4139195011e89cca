"""The library on disk: safe path components and paths that never leave the storage root."""
from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest

from webapp.core.paths import (
    MAX_COMPONENT_BYTES,
    UnsafePath,
    inside_root,
    job_directory,
    relative_to_root,
    resource_directory,
    sanitize_component,
    slug_from_url,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # no way up or to the current folder
        ("..", "untitled"),
        (".", "untitled"),
        ("...", "untitled"),
        # separators become underscores, so a name is one component
        ("a/b", "a_b"),
        ("a\\b", "a_b"),
        ("/abs/path", "_abs_path"),
        ("../../etc", "_.._etc"),
        # control characters and characters SMB/Windows refuse
        ("a\x00b\x1fc\x7fd", "a_b_c_d"),
        ('<>:"|?*', "_______"),
        ("what? a: title*", "what_ a_ title_"),
        # Windows reserved device names, with or without an extension, any case
        ("CON", "_CON"),
        ("con", "_con"),
        ("nul.txt", "_nul.txt"),
        ("COM1", "_COM1"),
        ("lpt9.log", "_lpt9.log"),
        ("AUX.tar.gz", "_AUX.tar.gz"),
        # ...but names that merely start like one are fine
        ("CONSOLE", "CONSOLE"),
        ("nullable.txt", "nullable.txt"),
        # trailing dots and spaces dropped (Windows drops them), leading dots too (hidden files)
        ("name. . ", "name"),
        ("name...", "name"),
        ("...hidden", "hidden"),
        # whitespace runs collapsed and trimmed
        ("  a   b    c  ", "a b c"),
        ("a\tb", "a_b"),  # a tab is a control character, not whitespace to keep
        ("a\u3000\u3000b", "a b"),  # ideographic spaces are whitespace too
        # Unicode kept
        ("日本語のタイトル", "日本語のタイトル"),
        ("Ça va 😀", "Ça va 😀"),
        # empty or missing → fallback
        ("", "untitled"),
        ("   ", "untitled"),
        (None, "untitled"),
    ],
)
def test_sanitize_component(name, expected):
    """Outside names become one safe folder or file name."""
    assert sanitize_component(name) == expected


def test_sanitize_component_fallback_is_configurable():
    """An empty name becomes the caller's fallback."""
    assert sanitize_component("..", fallback="unknown-site") == "unknown-site"
    assert sanitize_component(None, fallback="index") == "index"


def test_sanitize_component_normalises_to_nfc():
    """Decomposed Unicode (as macOS writes it) is stored composed, so names compare equal."""
    decomposed = "Cafe\u0301"
    result = sanitize_component(decomposed)
    assert result == "Caf\u00e9"
    assert unicodedata.is_normalized("NFC", result)


@pytest.mark.parametrize(
    "name",
    [
        "a" * 500,
        "日本語" * 60,  # 3-byte characters: 120 is a multiple of 3, try odd offsets too
        "x" + "日本語" * 60,
        "xy" + "日本語" * 60,
        "😀" * 50,  # 4-byte characters
        "a" + "😀" * 50,
        "ab" + "😀" * 50,
        "abc" + "😀" * 50,
        "e\u0301" * 100,  # NFC makes these 2-byte characters
    ],
)
def test_sanitize_component_byte_limit_never_cuts_a_character(name):
    """At most 120 bytes of UTF-8, cut on a character boundary (the result is a prefix of the name)."""
    result = sanitize_component(name)
    encoded = result.encode("utf-8")  # would raise on a half character (it can't be a str then)
    assert len(encoded) <= MAX_COMPONENT_BYTES
    assert len(encoded) > MAX_COMPONENT_BYTES - 4  # nothing more than the last character lost
    assert unicodedata.normalize("NFC", name).startswith(result)


@pytest.mark.parametrize(
    ("name", "ext"),
    [
        ("a" * 300 + ".mp4", ".mp4"),
        ("日本語" * 60 + ".mp4", ".mp4"),
        ("x" + "日本語" * 60 + ".jpeg", ".jpeg"),
        ("😀" * 60 + ".webm", ".webm"),
        ("x" + "😀" * 60 + ".JPG", ".JPG"),
    ],
)
def test_sanitize_component_keep_extension(name, ext):
    """With keep_extension a long file name is shortened before its extension."""
    result = sanitize_component(name, keep_extension=True)
    assert result.endswith(ext)
    assert len(result.encode("utf-8")) <= MAX_COMPONENT_BYTES
    stem = result[: -len(ext)]
    assert stem and name.startswith(stem)


def test_sanitize_component_without_keep_extension_may_cut_the_extension():
    """Folder names (no keep_extension) are simply cut at the limit."""
    result = sanitize_component("a" * 300 + ".mp4")
    assert result == "a" * MAX_COMPONENT_BYTES


def test_sanitize_component_short_names_keep_their_extension_unchanged():
    """Names under the limit are not touched by keep_extension."""
    assert sanitize_component("video.mp4", keep_extension=True) == "video.mp4"
    assert sanitize_component("archive.tar.gz", keep_extension=True) == "archive.tar.gz"


@pytest.mark.parametrize(("name", "keep"), [("CON." + "a" * 200, False), ("nul." + "b" * 200 + ".mp4", True)])
def test_sanitize_component_reserved_prefix_stays_within_the_limit(name, keep):
    """The "_" added before a reserved device name does not push the name past 120 bytes."""
    result = sanitize_component(name, keep_extension=keep)
    assert result.startswith("_")
    assert len(result.encode("utf-8")) <= MAX_COMPONENT_BYTES
    if keep:
        assert result.endswith(".mp4")


@pytest.mark.parametrize(
    "name",
    ["..", "../../etc/passwd", "a/../../b", "/abs/path", "C:\\Windows\\System32", "CON", "x\x00y", " . . "],
)
def test_sanitized_component_is_always_one_plain_component(name):
    """Whatever comes in, the result is a single non-special path component."""
    result = sanitize_component(name)
    assert result not in ("", ".", "..")
    assert "/" not in result and "\\" not in result and "\x00" not in result
    assert Path(result).name == result


# inside_root ---------------------------------------------------------------------------------


def test_inside_root_accepts_paths_under_the_root(tmp_path):
    """Paths below the root (existing or not) and the root itself are accepted, returned absolute."""
    root = tmp_path / "root"
    root.mkdir()
    assert inside_root(root, root / "a" / "b.txt") == root / "a" / "b.txt"
    assert inside_root(root, root) == root


def test_inside_root_refuses_dot_dot(tmp_path):
    """root/../x leaves the root."""
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(UnsafePath):
        inside_root(root, root / ".." / "x")
    with pytest.raises(UnsafePath):
        inside_root(root, root / "a" / ".." / ".." / "x")


def test_inside_root_refuses_a_sibling_with_the_same_prefix(tmp_path):
    """/…/root-other is not inside /…/root (no string-prefix check)."""
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(UnsafePath):
        inside_root(root, tmp_path / "root-other" / "x")


def test_inside_root_refuses_a_symlink_pointing_outside(tmp_path):
    """A symlink inside the root that points outside it is caught, for the link and below it."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePath):
        inside_root(root, root / "link")
    with pytest.raises(UnsafePath):
        inside_root(root, root / "link" / "not-yet" / "file.txt")


def test_inside_root_allows_a_symlink_that_stays_inside(tmp_path):
    """A symlink to another folder under the root is fine."""
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    assert inside_root(root, root / "alias" / "f.txt") == root / "alias" / "f.txt"


def test_unsafe_path_is_a_value_error():
    """Callers that catch ValueError also catch an unsafe path."""
    assert issubclass(UnsafePath, ValueError)


# job_directory / resource_directory ----------------------------------------------------------


@pytest.mark.parametrize(
    ("post_title", "domain", "parts"),
    [
        ("My Post", "example.com", ("My Post", "example.com")),
        (None, "example.com", ("example.com",)),
        ("", "example.com", ("example.com",)),
        ("   ", "example.com", ("example.com",)),
        ("日本語のポスト", "example.jp", ("日本語のポスト", "example.jp")),
        (None, "", ("unknown-site",)),
        (None, "..", ("unknown-site",)),
    ],
)
def test_job_directory(tmp_path, post_title, domain, parts):
    """root/<post>/<domain>, or root/<domain> without a post title."""
    assert job_directory(tmp_path, post_title, domain) == tmp_path.joinpath(*parts)


@pytest.mark.parametrize("post_title", ["../../etc", "/abs/path", "a/../../b", "..", "..\\..\\windows", "/"])
def test_job_directory_hostile_post_title_stays_under_the_root(tmp_path, post_title):
    """A hostile post title becomes one folder directly under the root."""
    root = tmp_path / "library"
    root.mkdir()
    folder = job_directory(root, post_title, "example.com")
    assert folder.parent.parent == root
    assert folder.name == "example.com"
    assert os.path.realpath(folder).startswith(str(root.resolve()) + os.sep)


def test_resource_directory_uses_the_id_or_a_slug(tmp_path):
    """<job dir>/<resource id>, the id sanitised; a slug of the URL when there is no id."""
    base = job_directory(tmp_path, "Post", "example.com")
    assert resource_directory(base, tmp_path, "../../x", "http://example.com/a") == base / "_.._x"
    assert resource_directory(base, tmp_path, None, "http://example.com/img/1.png") == base / "img-1.png"


def test_relative_to_root(tmp_path):
    """Stored paths are relative to the root with '/'; a path outside is refused."""
    assert relative_to_root(tmp_path, tmp_path / "a" / "b.txt") == "a/b.txt"
    with pytest.raises(UnsafePath):
        relative_to_root(tmp_path / "sub", tmp_path / "other.txt")


# slug_from_url -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "slug"),
    [
        ("http://example.com/a/b/c.html", "a-b-c.html"),
        ("http://example.com/", "index"),
        ("http://example.com", "index"),
        ("http://example.com/?q=1&r=2", "q-1-r-2"),
        ("http://example.com/page?id=5", "page-id-5"),
        ("http://example.com/p%20q/x", "p q-x"),
        ("http://example.com/%2e%2e/%2e%2e/etc", "-..-etc"),  # leading dots dropped
        ("http://example.com/a\\b", "a-b"),
        ("http://example.com/" + "x" * 300, "x" * MAX_COMPONENT_BYTES),
    ],
)
def test_slug_from_url(url, slug):
    """A URL's path (and query) as one safe component."""
    assert slug_from_url(url) == slug
