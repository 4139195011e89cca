"""gallery-dl's extractors looked up through an index, so only the module that matches is imported.

gallery-dl finds the extractor for a URL by importing all ~300 of its extractor modules and
trying each class's pattern in turn: ~10 MB in the worker, and a URL no site matches (a direct
file, a generic page — the most common ones) goes through every module. The index is the list
gallery-dl itself would walk (module, class, category, pattern and flags, in its order), read
once in a short-lived child process and cached as JSON in the data dir, keyed by gallery-dl's
version and FORMAT, so an upgrade rebuilds it. `ExtractorIndex.find(url)` answers what
`gallery_dl.extractor.find(url)` answers, importing only the module of the class that matches.

Run as `python -m jobs.engines.gallery_dl_index` it prints the index (what the child does).
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Iterator, NamedTuple

log = logging.getLogger(__name__)

# Ours: bump it when the cached file's layout or meaning changes.
FORMAT = 1
CACHE_NAME = "gallery-dl-extractors.json"
_CHILD_TIMEOUT_SECONDS = 120
_MODULE_PREFIX = "gallery_dl.extractor."
# Not site-specific: the picker's "does gallery-dl know this site" question leaves them out.
NOT_SITES = frozenset({"generic", "directlink", "noop"})
# Patterns joined per compiled regex. One regex of all ~1,000 costs the process ~10 MB (about
# what importing the modules costs) and answers in ~0.35 ms; chunks of 25 cost ~0.6 MB and
# answer a URL no site matches in ~0.12 ms (re tries alternatives one by one either way).
_CHUNK_SIZE = 25


class IndexedExtractor(NamedTuple):
    module: str  # gallery_dl.extractor.<name>
    name: str  # the class's name in that module
    category: str  # the class attribute ("" for the shared ones, whose instances set it)
    pattern: str
    flags: int


# In the child ---------------------------------------------------------------------------------


def describe_extractors() -> list[list]:
    """gallery-dl's extractor classes in the order its `find` tries them (imports them all)."""
    from gallery_dl import extractor

    rows = []
    for cls in extractor._list_classes():
        pattern = cls.pattern if not isinstance(cls.pattern, str) else re.compile(cls.pattern)
        module = sys.modules[cls.__module__]
        name = cls.__name__ if getattr(module, cls.__name__, None) is cls else next(
            key for key, value in vars(module).items() if value is cls)
        rows.append([cls.__module__, name, cls.category or "", pattern.pattern, pattern.flags])
    return rows


def _print_index() -> None:
    from gallery_dl.version import __version__

    json.dump({"format": FORMAT, "gallery_dl": __version__, "extractors": describe_extractors()}, sys.stdout)


# In the worker --------------------------------------------------------------------------------


class IndexUnavailable(Exception):
    """The index could not be built; the caller falls back to gallery-dl's own lookup."""


def _gallery_dl_version() -> str:
    from gallery_dl.version import __version__

    return __version__


def _entries_of(document) -> list[IndexedExtractor] | None:
    """The entries of a cache document, or None when it is not one for this gallery-dl and FORMAT."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return None
    if document.get("gallery_dl") != _gallery_dl_version():
        return None
    rows = document.get("extractors")
    if not isinstance(rows, list) or not rows:
        return None
    entries = []
    for row in rows:
        if not (isinstance(row, list) and len(row) == 5 and all(isinstance(v, str) for v in row[:4])
                and isinstance(row[4], int) and row[0].startswith(_MODULE_PREFIX)):
            return None
        entries.append(IndexedExtractor(*row))
    return entries


def _build_in_child() -> dict:
    # The file is run through runpy with -P: as a script its folder would come first on sys.path,
    # and that folder's gallery_dl.py (Haul's engine) would shadow the real package; as `-m` the
    # `jobs` package would be imported, which opens the Huey storage.
    command = [sys.executable, "-P", "-c", "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')",
               str(Path(__file__).resolve())]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=_CHILD_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise IndexUnavailable(f"could not run the child: {exc}") from exc
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise IndexUnavailable(lines[-1] if lines else f"the child exited with {done.returncode}")
    try:
        return json.loads(done.stdout)
    except ValueError as exc:
        raise IndexUnavailable(f"the child printed no index: {exc}") from exc


def _read_cache(path: Path) -> list[IndexedExtractor] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            document = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.info("rebuilding gallery-dl's extractor index: %s is unreadable (%s)", path, exc)
        return None
    entries = _entries_of(document)
    if entries is None:
        log.info("rebuilding gallery-dl's extractor index: %s is for another gallery-dl or format", path)
    return entries


def _write_cache(path: Path, document: dict) -> None:
    """Written aside and renamed over: another worker may read it, or build it, at the same time."""
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        log.warning("could not cache gallery-dl's extractor index in %s: %s", path.parent, exc)
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh)
        os.replace(temp, path)
    except OSError as exc:
        log.warning("could not cache gallery-dl's extractor index at %s: %s", path, exc)
        try:
            os.unlink(temp)
        except OSError:
            pass


def load_entries(data_dir: Path | None) -> list[IndexedExtractor]:
    """The index from the data dir's cache, built (and cached) when missing, unreadable or stale.

    Without a data dir it is built and not cached. Raises IndexUnavailable when it cannot be built.
    """
    path = Path(data_dir) / CACHE_NAME if data_dir is not None else None
    if path is not None and (entries := _read_cache(path)) is not None:
        return entries
    log.info("building gallery-dl's extractor index (a child process imports every extractor once)")
    document = _build_in_child()
    entries = _entries_of(document)
    if entries is None:
        raise IndexUnavailable("the child's index is not one for this gallery-dl")
    if path is not None:
        _write_cache(path, document)
    return entries


def load(data_dir: Path | None) -> "ExtractorIndex":
    """The extractor index for this gallery-dl (see load_entries); a cache that does not compile is rebuilt."""
    entries = load_entries(data_dir)
    try:
        return ExtractorIndex(entries)
    except (re.error, ValueError) as exc:
        if data_dir is None:
            raise IndexUnavailable(f"a pattern does not compile: {exc}") from exc
        log.info("rebuilding gallery-dl's extractor index: a cached pattern does not compile (%s)", exc)
        try:
            os.unlink(Path(data_dir) / CACHE_NAME)
        except OSError:
            pass
        return ExtractorIndex(load_entries(data_dir))


class ExtractorIndex:
    """gallery-dl's `find`, over the index: only the module of the class that matches is imported.

    The joinable patterns are joined (in chunks) with an empty named group after each, so a match
    tells which class is the first to match; the others (the non-site categories, and patterns
    with back-references or conditionals) are asked one by one, in order. The class found is then
    imported and built as gallery-dl's `find` builds it, from its own pattern's match.
    """

    def __init__(self, entries: list[IndexedExtractor]):
        # Imported here, in the worker: the child runs this file by path, without the project.
        from jobs.engines import joined_patterns

        self.entries = entries
        self._compiled: dict[int, re.Pattern] = {}
        self._prepared: set[str] = set()
        self._import_lock = threading.Lock()
        individual, joinable = [], []
        for position, entry in enumerate(entries):
            alternative = (None if entry.category in NOT_SITES
                           else joined_patterns.alternative(entry.pattern, entry.flags))
            if alternative is None:
                individual.append(position)
            else:
                joinable.append((position, alternative))
        self._chunks: list[re.Pattern] = []
        for start in range(0, len(joinable), _CHUNK_SIZE):
            part = joinable[start:start + _CHUNK_SIZE]
            try:
                self._chunks.append(re.compile("|".join(f"(?:{alt})(?P<e{position}>)" for position, alt in part)))
            except re.error:  # one rewrite went wrong: ask this chunk's classes one by one
                individual.extend(position for position, _ in part)
        for position in individual:
            self._pattern(position)  # a broken entry fails now, not on some later URL
        self._individual = sorted(individual)
        self._individual_sites = [p for p in self._individual if entries[p].category not in NOT_SITES]

    def _pattern(self, position: int) -> re.Pattern:
        compiled = self._compiled.get(position)
        if compiled is None:
            entry = self.entries[position]
            compiled = self._compiled[position] = re.compile(entry.pattern, entry.flags)
        return compiled

    def _first_joined(self, url: str) -> int | None:
        for chunk in self._chunks:
            if match := chunk.match(url):
                return next(int(name[1:]) for name, value in match.groupdict().items() if value is not None)
        return None

    def matches_site(self, url: str) -> bool:
        """Whether some site-specific class's pattern matches (generic, directlink and noop left out)."""
        return self._first_joined(url) is not None or any(
            self._pattern(position).match(url) for position in self._individual_sites)

    def _candidates(self, url: str) -> Iterator[int]:
        """Positions whose indexed pattern matches `url`, in gallery-dl's order."""
        first = self._first_joined(url)
        for position in self._individual:
            if first is not None and position > first:
                break
            if self._pattern(position).match(url):
                yield position
        if first is None:
            return
        yield first
        # Only reached when the class imported disagrees with its indexed pattern.
        for position in range(first + 1, len(self.entries)):
            if self._pattern(position).match(url):
                yield position

    def extractor_class(self, position: int) -> type:
        """The class at `position`, its module imported and prepared as gallery-dl's add_module does."""
        entry = self.entries[position]
        if entry.module not in self._prepared:
            with self._import_lock:
                importlib.import_module(entry.module)
                self._prepare_imported_modules()
        return getattr(sys.modules[entry.module], entry.name)

    def _prepare_imported_modules(self) -> None:
        # Extractors match URLs with their siblings' compiled patterns (reddit's
        # RedditSubmissionExtractor.pattern.match, …), and a module may import another one's
        # classes: every extractor module imported so far gets its patterns compiled.
        from gallery_dl.text import re_compile

        for name, module in list(sys.modules.items()):
            if not name.startswith(_MODULE_PREFIX) or name in self._prepared or module is None:
                continue
            for cls in list(vars(module).values()):
                if hasattr(cls, "pattern") and getattr(cls, "__module__", None) == name \
                        and isinstance(cls.pattern, str):
                    cls.pattern = re_compile(cls.pattern)
            self._prepared.add(name)

    def find(self, url: str):
        """The extractor gallery-dl's `extractor.find(url)` would return, or None."""
        for position in self._candidates(url):
            cls = self.extractor_class(position)
            if match := cls.pattern.match(url):
                return cls(match)
            log.debug("gallery-dl's %s no longer matches what its index says; looking further", cls.__name__)
        return None


if __name__ == "__main__":
    _print_index()
