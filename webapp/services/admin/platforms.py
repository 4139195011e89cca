"""The sites the installed gallery-dl and yt-dlp support, listed once per process.

Importing every yt-dlp extractor costs the importing process tens of MB and about a second, and
the web process is meant to stay small and never needs the tools themselves. So the list is
read in a short-lived child (`python -m webapp.services.admin.platforms`) that prints it as JSON; the
web keeps only the names, descriptions and subcategories, cached for the process's lifetime
(the tools change only with a new install, which restarts Haul).
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

from webapp.core.vocabulary import GALLERY_DL, TOOLS, YTDLP

log = logging.getLogger(__name__)

_CHILD_TIMEOUT_SECONDS = 120
_lock = threading.Lock()
_cached: dict | None = None


# In the child -----------------------------------------------------------------------------------


def _gallery_dl() -> dict:
    """gallery-dl's categories, each with its subcategories (as `--list-extractors` shows them).

    A shared extractor (Mastodon, Blogger, …) has no category of its own but a list of known
    sites ("instances"); each is listed, with `base` naming the family (`base:URL` reaches others).
    """
    from gallery_dl import extractor, version

    categories: dict[str, dict] = {}

    def add(name: str, subcategory: str, base: str | None = None) -> None:
        entry = categories.setdefault(name, {"subcategories": set(), "base": base})
        if subcategory:
            entry["subcategories"].add(subcategory)

    for cls in extractor.extractors():
        subcategory = getattr(cls, "subcategory", "") or ""
        if getattr(cls, "category", ""):
            add(cls.category, subcategory)
            continue
        base = getattr(cls, "basecategory", "") or None
        for instance in getattr(cls, "instances", ()) or ():
            add(instance[0], subcategory, base)
    platforms = []
    for name, entry in sorted(categories.items()):
        platform = {"name": name, "tool": GALLERY_DL, "subcategories": sorted(entry["subcategories"])}
        if entry["base"]:
            platform["base"] = entry["base"]
        platforms.append(platform)
    return {"version": version.__version__, "platforms": platforms}


def _ytdlp() -> dict:
    """yt-dlp's extractors: IE_NAME, key, description and whether it is marked working."""
    from yt_dlp import extractor, version

    platforms = []
    for cls in extractor.gen_extractor_classes():
        description = cls.IE_DESC if isinstance(cls.IE_DESC, str) else None
        platforms.append({"name": cls.IE_NAME, "tool": YTDLP, "key": cls.ie_key(),
                          "description": description, "working": bool(cls.working())})
    platforms.sort(key=lambda entry: entry["name"].lower())
    return {"version": version.__version__, "platforms": platforms}


def read_lists() -> dict:
    """Both tools' lists, read in this process: {tool: {"version", "platforms"} or {"error"}}."""
    found = {}
    for tool, reader in ((GALLERY_DL, _gallery_dl), (YTDLP, _ytdlp)):
        try:
            found[tool] = reader()
        except Exception as exc:  # a broken or missing tool: say so, list the other one
            found[tool] = {"version": None, "platforms": [], "error": f"{type(exc).__name__}: {exc}"}
    return found


# In the web process -------------------------------------------------------------------------------


def _read_in_child() -> dict:
    root = Path(__file__).resolve().parents[3]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    done = subprocess.run([sys.executable, "-m", "webapp.services.admin.platforms"], capture_output=True, text=True,
                          timeout=_CHILD_TIMEOUT_SECONDS, cwd=root, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")
    return json.loads(done.stdout)


def _unavailable(reason: str) -> dict:
    return {tool: {"version": None, "platforms": [], "error": reason} for tool in TOOLS}


def lists() -> dict:
    """Both tools' lists, read once per process (a failed read is tried again next time)."""
    global _cached
    if _cached is not None:
        return _cached
    with _lock:  # two first requests at once start one child, not two
        if _cached is None:
            try:
                _cached = _read_in_child()
            except (OSError, subprocess.SubprocessError, RuntimeError, ValueError) as exc:
                log.exception("listing the tools' extractors failed")
                return _unavailable(f"could not list the extractors: {exc}")
    return _cached


def _matches(entry: dict, needle: str) -> bool:
    if needle in entry["name"].lower() or needle in (entry.get("description") or "").lower():
        return True
    return needle in entry.get("key", "").lower() or any(needle in sub for sub in entry.get("subcategories", ()))


def search(tool: str | None = None, text: str | None = None) -> dict:
    """{"tools": {tool: {"version", "count"[, "error"]}}, "platforms": [...]}, filtered by tool and
    by a case-insensitive part of a name, key, subcategory or description."""
    needle = (text or "").strip().lower()
    tools, platforms = {}, []
    for name, found in lists().items():
        if tool and name != tool:
            continue
        chosen = [entry for entry in found["platforms"] if not needle or _matches(entry, needle)]
        tools[name] = {"version": found["version"], "count": len(chosen)}
        if found.get("error"):
            tools[name]["error"] = found["error"]
        platforms.extend(chosen)
    return {"tools": tools, "platforms": platforms}


def _main() -> int:
    """`python -m webapp.services.admin.platforms`: print both tools' lists as JSON."""
    json.dump(read_lists(), sys.stdout, separators=(",", ":"))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
