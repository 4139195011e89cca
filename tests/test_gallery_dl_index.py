"""gallery-dl's extractors looked up through the cached index (jobs/engines/gallery_dl_index.py).

The reference is gallery-dl's own `extractor.find`, run here in the test process (which may
import every extractor module); the worker's side is checked in fresh processes.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gallery_dl import extractor as gdl_extractor
from gallery_dl.version import __version__ as GALLERY_DL_VERSION

from jobs.engines import gallery_dl, gallery_dl_index

ROOT = Path(__file__).resolve().parent.parent
CLASSES = list(gdl_extractor._list_classes())  # gallery-dl's order; imports them all (fine here)
# URLs no site-specific extractor should take, and gallery-dl's non-site ones.
OTHER_URLS = [
    "http://127.0.0.1:8123/gallery/x",
    "http://127.0.0.1:8123/",
    "http://127.0.0.1:8123/img/1.png",
    "https://example.org/a.jpg",
    "https://example.org/page.html?x=1#top",
    "https://www.youtube.com/watch?v=x",
    "https://vimeo.com/76979871",
    "generic:https://example.org/",
    "noop",
    "",
    "not a url",
]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    """A data dir holding a freshly built index."""
    data_dir = tmp_path_factory.mktemp("gallery-dl-index")
    gallery_dl_index.load_entries(data_dir)
    assert (data_dir / gallery_dl_index.CACHE_NAME).is_file()
    return data_dir


@pytest.fixture(scope="module")
def index(index_dir) -> gallery_dl_index.ExtractorIndex:
    return gallery_dl_index.load(index_dir)


def same_extractor(ours, theirs) -> bool:
    if ours is None or theirs is None:
        return ours is theirs
    return (type(ours) is type(theirs) and ours.url == theirs.url and ours.groups == theirs.groups
            and (ours.category, ours.subcategory) == (theirs.category, theirs.subcategory))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: f"{cls.__module__.rpartition('.')[2]}.{cls.__name__}")
def test_index_finds_what_gallery_dl_finds_for_each_example(index, cls):
    """For every extractor's example URL, the index's find returns gallery-dl's own answer."""
    url = getattr(cls, "example", None)
    if not url:
        pytest.skip(f"{cls.__name__} has no example URL")
    # (a few examples are ones gallery-dl itself no longer takes: both must say None then)
    assert same_extractor(index.find(url), gallery_dl.gallery_dl_find(url)), url


@pytest.mark.parametrize("url", OTHER_URLS)
def test_index_finds_what_gallery_dl_finds_for_other_urls(index, url):
    """Direct links, generic pages, noop and URLs nothing takes: the same answer, None included."""
    assert same_extractor(index.find(url), gallery_dl.gallery_dl_find(url)), url


def test_the_index_is_gallery_dls_list_in_its_order(index):
    """Every class, in `find`'s order, with its own pattern and flags."""
    assert [(e.module, e.name) for e in index.entries] == [(c.__module__, c.__name__) for c in CLASSES]
    for entry, cls in zip(index.entries, CLASSES):
        assert (entry.pattern, entry.flags) == (cls.pattern.pattern, cls.pattern.flags), cls


def test_site_extractor_answers_as_before():
    """The picker's question through the installed index: gallery-dl's answer minus the non-site categories."""
    urls = [cls.example for cls in CLASSES if getattr(cls, "example", None)] + OTHER_URLS
    site_matches = 0
    for url in urls:
        expected = gallery_dl.gallery_dl_find(url)
        if expected is not None and expected.category in ("generic", "directlink", "noop"):
            expected = None
        assert same_extractor(gallery_dl.site_extractor(url), expected), url
        site_matches += expected is not None
    assert gallery_dl._index is not None  # the answers came from the index, not the fallback
    assert gdl_extractor.find == gallery_dl._index.find  # and gallery-dl's job code uses it too
    assert site_matches > 900


def test_a_patterns_leading_flag_is_kept_scoped_when_joined():
    """A case-insensitive pattern stays so inside the joined regex, and does not leak to the others."""
    entries = [
        gallery_dl_index.IndexedExtractor("gallery_dl.extractor.a", "A", "a", r"(?i)https://a\.example/(?P<x>\d+)", 34),
        gallery_dl_index.IndexedExtractor("gallery_dl.extractor.b", "B", "b", r"https://b\.example/(?P<x>\d+)", 32),
        gallery_dl_index.IndexedExtractor("gallery_dl.extractor.c", "C", "c", r"https://c\.example/(\w)\1", 32),
    ]
    index = gallery_dl_index.ExtractorIndex(entries)
    assert index._individual == [2]  # the back-reference is asked on its own
    assert index.matches_site("HTTPS://A.EXAMPLE/1")
    assert not index.matches_site("HTTPS://B.EXAMPLE/1")
    assert index.matches_site("https://b.example/1")
    assert index.matches_site("https://c.example/zz") and not index.matches_site("https://c.example/zy")
    assert list(index._candidates("https://b.example/1")) == [1]


# The worker's side, in fresh processes -------------------------------------------------------------

_WORKER_SCRIPT = r"""
import json, sys, threading
from pathlib import Path
from gallery_dl import extractor
from jobs.engines import gallery_dl, gallery_dl_index

built = []
build = gallery_dl_index._build_in_child
gallery_dl_index._build_in_child = lambda: built.append(1) or build()
urls = sys.argv[2:]
answers = {}

def look_up(url):
    if url == "configure":
        gallery_dl.configure(data_dir=Path(sys.argv[1]))
        return
    site = gallery_dl.site_extractor(url)
    found = extractor.find(url)  # what gallery-dl's job code calls for a gallery's children
    answers[url] = [type(site).__name__ if site else None, type(found).__name__ if found else None]

threads = [threading.Thread(target=look_up, args=(url,)) for url in ["configure", *urls]]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({
    "answers": answers,
    "modules": sorted(m for m in sys.modules if m.startswith("gallery_dl.extractor.")),
    "builds": len(built),
    "installed": extractor.find == gallery_dl._index.find if gallery_dl._index else False,
    # extractors use their siblings' compiled patterns (reddit's RedditSubmissionExtractor.pattern.match)
    "uncompiled": sorted(
        f"{name}.{key}" for name, module in list(sys.modules.items())
        if name.startswith("gallery_dl.extractor.") and module is not None
        for key, value in vars(module).items()
        if getattr(value, "__module__", None) == name and isinstance(getattr(value, "pattern", None), str)),
}))
"""


def run_worker_lookups(data_dir: Path, urls: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HAUL_DATA_DIR": str(data_dir)}
    done = subprocess.run([sys.executable, "-c", _WORKER_SCRIPT, str(data_dir), *urls], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


WORKER_URLS = [
    "http://127.0.0.1:8123/gallery/x",
    "https://example.org/a.jpg",
    "https://www.youtube.com/watch?v=x",
    "https://danbooru.donmai.us/posts/123",
    "https://www.pixiv.net/en/artworks/12345",
    "https://www.reddit.com/r/pics/comments/abc123/title/",
]


def expected_answers(urls):
    answers = {}
    for url in urls:
        found = gallery_dl.gallery_dl_find(url)
        site = found if found is not None and found.category not in gallery_dl_index.NOT_SITES else None
        answers[url] = [type(site).__name__ if site else None, type(found).__name__ if found else None]
    return answers


def test_a_worker_with_the_cached_index_imports_only_the_modules_that_match(index_dir):
    """Configured and asked (from several threads) about a few URLs, a fresh process imports a handful
    of gallery-dl's ~300 extractor modules, and reads the cache instead of building the index."""
    cached = (index_dir / gallery_dl_index.CACHE_NAME).read_bytes()
    found = run_worker_lookups(index_dir, WORKER_URLS)
    assert found["answers"] == expected_answers(WORKER_URLS)
    assert found["installed"] is True and found["uncompiled"] == []
    assert found["builds"] == 0
    assert (index_dir / gallery_dl_index.CACHE_NAME).read_bytes() == cached
    assert len(gdl_extractor.modules) > 250
    assert len(found["modules"]) < 20, found["modules"]
    assert "gallery_dl.extractor.danbooru" in found["modules"]


def test_a_worker_without_a_cache_builds_it_once(tmp_path):
    """Several threads asking at once on a first start: one child builds the index, all answers agree."""
    found = run_worker_lookups(tmp_path, WORKER_URLS)
    assert found["answers"] == expected_answers(WORKER_URLS)
    assert found["builds"] == 1 and found["installed"] is True
    assert len(found["modules"]) < 20, found["modules"]
    document = json.loads((tmp_path / gallery_dl_index.CACHE_NAME).read_text())
    assert (document["format"], document["gallery_dl"]) == (gallery_dl_index.FORMAT, GALLERY_DL_VERSION)
    assert not list(tmp_path.glob("*.tmp"))  # no temp file left


# The cache ----------------------------------------------------------------------------------------


def cache_with(index_dir: Path, target: Path, change) -> Path:
    document = json.loads((index_dir / gallery_dl_index.CACHE_NAME).read_text())
    change(document)
    path = target / gallery_dl_index.CACHE_NAME
    path.write_text(json.dumps(document))
    return path


def count_builds(monkeypatch) -> list:
    builds = []
    build = gallery_dl_index._build_in_child
    monkeypatch.setattr(gallery_dl_index, "_build_in_child", lambda: builds.append(1) or build())
    return builds


def test_a_valid_cache_is_used_as_it_is(index_dir, monkeypatch):
    builds = count_builds(monkeypatch)
    assert len(gallery_dl_index.load(index_dir).entries) == len(CLASSES)
    assert builds == []


@pytest.mark.parametrize("change", [
    pytest.param(lambda d: d.update(gallery_dl="0.0.1", extractors=d["extractors"][:1]), id="other-gallery-dl"),
    pytest.param(lambda d: d.update(format=gallery_dl_index.FORMAT + 1, extractors=d["extractors"][:1]),
                 id="other-format"),
    pytest.param(lambda d: d["extractors"][0].__setitem__(0, "os"), id="not-an-extractor-module"),
    pytest.param(lambda d: d["extractors"][0].pop(), id="short-row"),
    pytest.param(lambda d: d["extractors"][0].__setitem__(3, "(unbalanced"), id="pattern-does-not-compile"),
])
def test_a_stale_or_broken_cache_is_rebuilt(index_dir, tmp_path, monkeypatch, change):
    path = cache_with(index_dir, tmp_path, change)
    builds = count_builds(monkeypatch)
    index = gallery_dl_index.load(tmp_path)
    assert builds == [1]
    assert len(index.entries) == len(CLASSES)
    assert path.read_bytes() == (index_dir / gallery_dl_index.CACHE_NAME).read_bytes()


@pytest.mark.parametrize("content", [b"{not json", b"", b"\xff\xfe", b"[]", b'{"format": 1}'])
def test_a_corrupt_cache_file_is_rebuilt(index_dir, tmp_path, monkeypatch, content):
    path = tmp_path / gallery_dl_index.CACHE_NAME
    path.write_bytes(content)
    builds = count_builds(monkeypatch)
    assert len(gallery_dl_index.load(tmp_path).entries) == len(CLASSES)
    assert builds == [1]
    assert json.loads(path.read_text())["gallery_dl"] == GALLERY_DL_VERSION


def capture_warnings(caplog, monkeypatch, name: str):
    # The migrations other tests run configure logging with alembic's fileConfig, which disables
    # every logger that exists by then.
    monkeypatch.setattr(logging.getLogger(name), "disabled", False)
    return caplog.at_level(logging.WARNING, logger=name)


def test_an_unwritable_data_dir_still_gives_an_index(tmp_path, caplog, monkeypatch):
    missing = tmp_path / "not-there"
    with capture_warnings(caplog, monkeypatch, "jobs.engines.gallery_dl_index"):
        index = gallery_dl_index.load(missing)
    assert len(index.entries) == len(CLASSES)
    assert "could not cache" in caplog.text


def test_a_failing_build_falls_back_to_gallery_dls_own_find(tmp_path, monkeypatch, caplog):
    """No child can run: a warning, and gallery-dl's own lookup (all modules) answers as before."""
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python"))
    with pytest.raises(gallery_dl_index.IndexUnavailable):
        gallery_dl_index.load(tmp_path)

    monkeypatch.setattr(gallery_dl, "_configured_with", "not yet")
    monkeypatch.setattr(gallery_dl, "_lookup_ready", False)
    monkeypatch.setattr(gallery_dl, "_index", None)
    monkeypatch.setattr(gdl_extractor, "find", gallery_dl.gallery_dl_find)
    with capture_warnings(caplog, monkeypatch, "jobs.engines.gallery_dl"):
        gallery_dl.configure(data_dir=tmp_path)
    assert "index is unavailable" in caplog.text
    assert gdl_extractor.find is gallery_dl.gallery_dl_find and gallery_dl._index is None
    assert gallery_dl.site_extractor("https://danbooru.donmai.us/posts/123").category == "danbooru"
    assert gallery_dl.site_extractor("https://example.org/a.jpg") is None
    assert not (tmp_path / gallery_dl_index.CACHE_NAME).exists()


def test_a_child_that_fails_is_reported(monkeypatch):
    """A child exiting with an error (say, a gallery-dl without `_list_classes`) is IndexUnavailable."""
    def fail(*args, **kwargs):
        return subprocess.CompletedProcess(args, 1, "", "Traceback ...\nAttributeError: no _list_classes\n")

    monkeypatch.setattr(gallery_dl_index.subprocess, "run", fail)
    with pytest.raises(gallery_dl_index.IndexUnavailable, match="no _list_classes"):
        gallery_dl_index.load(None)
