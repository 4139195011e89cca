"""Extra command-line switches for gallery-dl and yt-dlp, parsed by each tool's own parser.

HAUL_GALLERY_DL_EXTRA_ARGS / HAUL_YTDLP_EXTRA_ARGS let an admin pass switches the tools
know (a rate limit, a cookies file, a format) without Haul knowing every option. Each string
is parsed with the tool's own option parser, so a typo is refused with the tool's message.
Switches that would fight Haul's library layout (output paths, URLs) are refused too.
"""
from __future__ import annotations

import contextlib
import functools
import io
import optparse
import shlex


class ToolArgsError(ValueError):
    """The switches could not be parsed; the message is the tool's own, on one line."""


def _split(args: str) -> list[str]:
    try:
        return shlex.split(args or "")
    except ValueError as exc:
        raise ToolArgsError(str(exc)) from None


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    # argparse/optparse print the usage first and the error last.
    return lines[-1] if lines else "invalid arguments"


# gallery-dl options that decide where files go; Haul owns the layout.
_GALLERY_DL_LAYOUT_KEYS = {"base-directory", "directory", "filename", "parent-directory"}


def parse_gallery_dl_args(args: str) -> tuple:
    """Parse gallery-dl switches into a tuple of (config path, key, value) settings."""
    argv = _split(args)
    if not argv:
        return ()
    from gallery_dl import option

    parser = option.build_parser()

    def fail(message):
        raise ToolArgsError(message)

    parser.error = fail  # argparse would print usage and exit the process
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            parsed = parser.parse_args(argv)
    except SystemExit:
        raise ToolArgsError(_one_line(stderr.getvalue())) from None
    if parsed.urls or getattr(parsed, "input_files", None):
        raise ToolArgsError(f"URLs are not allowed in extra arguments: {' '.join(parsed.urls)}")
    if parsed.directory or parsed.filename:
        raise ToolArgsError("output location switches (-D, -f) are not allowed; Haul decides the layout")
    settings = []
    for path, key, value in parsed.options:
        if key in _GALLERY_DL_LAYOUT_KEYS:
            raise ToolArgsError(f"option {key!r} is not allowed; Haul decides the layout")
        settings.append((tuple(path), key, value))
    if parsed.options_pp:
        settings.append(((), "postprocessor-options", dict(parsed.options_pp)))
    if parsed.postprocessors:
        settings.append(((), "postprocessors", list(parsed.postprocessors)))
    return tuple(settings)


@functools.lru_cache(maxsize=1)
def _ytdlp_defaults() -> dict:
    import yt_dlp

    return yt_dlp.parse_options(["--ignore-config"]).ydl_opts


# yt-dlp parameters Haul sets itself for every job.
_YTDLP_LAYOUT_KEYS = {"outtmpl", "paths", "progress_hooks", "postprocessor_hooks", "logger"}


def parse_ytdlp_args(args: str) -> dict:
    """Parse yt-dlp switches into the YoutubeDL parameters that differ from the defaults."""
    argv = _split(args)
    if not argv:
        return {}
    import yt_dlp

    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            parsed = yt_dlp.parse_options(["--ignore-config", *argv])
    except SystemExit:
        raise ToolArgsError(_one_line(stderr.getvalue())) from None
    except optparse.OptParseError as exc:
        raise ToolArgsError(_one_line(str(exc)).split("error: ", 1)[-1]) from None
    if parsed.urls:
        raise ToolArgsError(f"URLs are not allowed in extra arguments: {' '.join(parsed.urls)}")
    defaults = _ytdlp_defaults()
    changed = {
        k: v for k, v in parsed.ydl_opts.items() if not k.startswith("_") and defaults.get(k, object()) != v
    }
    refused = sorted(set(changed) & _YTDLP_LAYOUT_KEYS)
    if refused:
        raise ToolArgsError(f"output switches ({', '.join(refused)}) are not allowed; Haul decides the layout")
    return changed
