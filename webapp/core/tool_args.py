"""Extra command-line switches for gallery-dl and yt-dlp: allowed switches only, checked before parsing.

HAUL_GALLERY_DL_EXTRA_ARGS / HAUL_YTDLP_EXTRA_ARGS and their Settings-page values let an admin
tune the tools (a rate limit, a format, pauses between requests). Only the switches on the
allowlist (webapp/core/tool_allowlist.py) pass: whoever can save a setting must not be able
to run a program, read or write a file, or evaluate code on the server.

The check happens in three steps:

1. Walk the words with each tool's own option tables (yt-dlp's optparse parser, gallery-dl's
   argparse parser) to find which option every word belongs to: long names and their
   abbreviations (as each parser accepts them; ambiguous ones are refused), `--name=value`,
   short options with an attached value (`-r50M`), clustered short flags (`-4v`), how many
   values each option takes, `--`, and bare words (URLs), which are refused.
2. Refuse any option not on the allowlist, naming only the switch. This happens before the
   tool's parser runs, because both parsers act while parsing: yt-dlp reads `--batch-file`
   and `--config-locations` files inside parse_options (and would quote their lines back).
3. Parse with the tool's own parser, then check the result again: yt-dlp's changed parameters
   must be ones the allowed switches set, with no post-processors; gallery-dl's settings must
   be allowed keys with plain values, with nothing else changed.

Error messages name a switch (or a word's position), never a value read from anywhere.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import io
import optparse
import re
import shlex

from webapp.core import tool_allowlist as allow


class ToolArgsError(ValueError):
    """The switches are refused or do not parse; the message is one line."""


def _split(args: str) -> list[str]:
    try:
        return shlex.split(args or "")
    except ValueError as exc:
        raise ToolArgsError(str(exc)) from None


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    # argparse/optparse print the usage first and the error last.
    return lines[-1] if lines else "invalid arguments"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _bare_word(position: int) -> ToolArgsError:
    # The word itself is not quoted: a value meant for a refused switch may be a secret.
    return ToolArgsError(f"the {_ordinal(position)} word is not a switch: URLs and other bare words are not allowed")


def _not_allowed(switch: str) -> ToolArgsError:
    return ToolArgsError(f"{switch} is not allowed (only the switches on Haul's list are)")


# yt-dlp ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _ytdlp_parser() -> optparse.OptionParser:
    """yt-dlp's own parser, used only for its option tables and long-name matching."""
    from yt_dlp.options import create_parser

    return create_parser()


def walk_ytdlp(argv: list[str]) -> list[tuple[str, optparse.Option]]:
    """Each option `argv` names, as (the switch as matched, the option), the way optparse reads it.

    Raises ToolArgsError for an unknown or ambiguous switch, a missing value, a value given to
    a flag, and any bare word.
    """
    parser = _ytdlp_parser()
    found = []
    rest = list(argv)
    position = 0

    def take(count: int, switch: str) -> None:
        nonlocal position
        if len(rest) < count:
            raise ToolArgsError(f"{switch} option requires {'an argument' if count == 1 else f'{count} arguments'}")
        del rest[:count]
        position += count

    while rest:
        word = rest.pop(0)
        position += 1
        if word == "--":  # optparse: everything after it is a bare word
            if rest:
                raise _bare_word(position + 1)
            break
        if word.startswith("--"):
            name, has_value, _ = word.partition("=")
            try:
                # yt-dlp's matcher: unique prefixes too, and prefixes shared only by the
                # aliases of one option (--sub-l: --sub-langs, --srt-langs).
                full = parser._match_long_opt(name)
            except optparse.AmbiguousOptionError as exc:  # before BadOptionError, its base class
                raise ToolArgsError(f"ambiguous option: {name} ({', '.join(exc.possibilities)}?)") from None
            except optparse.BadOptionError:
                raise ToolArgsError(f"no such option: {name}") from None
            option = parser._long_opt[full]
            found.append((full, option))
            if option.takes_value():
                take(option.nargs - (1 if has_value else 0), full)
            elif has_value:
                raise ToolArgsError(f"{full} option does not take a value")
        elif word.startswith("-") and word != "-":
            for index, letter in enumerate(word[1:], start=2):
                switch = "-" + letter
                option = parser._short_opt.get(switch)
                if option is None:
                    raise ToolArgsError(f"no such option: {switch}")
                found.append((switch, option))
                if option.takes_value():  # the rest of the word is its (first) value
                    take(option.nargs - (1 if index < len(word) else 0), switch)
                    break
        else:
            raise _bare_word(position)
    return found


def _ytdlp_allowed(switch: str, option: optparse.Option) -> allow.YtdlpSwitch:
    """The allowlist entry of `option`; ToolArgsError naming `switch` when there is none."""
    entry = allow.YTDLP_SWITCHES.get(option.get_opt_string())
    if entry is None or option.dest != entry.dest:
        raise _not_allowed(switch)
    callback = getattr(option.callback, "__name__", None)
    if option.action not in allow.YTDLP_ACTIONS and not (
            option.action == "callback" and callback in allow.YTDLP_CALLBACKS):
        raise _not_allowed(switch)
    return entry


@functools.lru_cache(maxsize=1)
def _ytdlp_defaults() -> dict:
    import yt_dlp

    return yt_dlp.parse_options(["--ignore-config"]).ydl_opts


def parse_ytdlp_args(args: str) -> dict:
    """The YoutubeDL parameters that allowed switches `args` change from the defaults.

    ToolArgsError names the first refused switch, or quotes yt-dlp's own message about a bad
    value of an allowed one.
    """
    argv = _split(args)
    if not argv:
        return {}
    entries = [_ytdlp_allowed(switch, option) for switch, option in walk_ytdlp(argv)]
    import yt_dlp

    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            parsed = yt_dlp.parse_options(["--ignore-config", *argv])
    except SystemExit:
        raise ToolArgsError(_one_line(stderr.getvalue())) from None
    except optparse.OptParseError as exc:
        raise ToolArgsError(_one_line(str(exc)).split("error: ", 1)[-1]) from None
    return _checked_ytdlp_result(parsed, entries)


def _checked_ytdlp_result(parsed, entries: list[allow.YtdlpSwitch]) -> dict:
    """The changed parameters, refused unless the allowed switches account for every one."""
    if parsed.urls:
        raise ToolArgsError("URLs and other bare words are not allowed")
    defaults = _ytdlp_defaults()
    changed = {
        k: v for k, v in parsed.ydl_opts.items() if not k.startswith("_") and defaults.get(k, object()) != v
    }
    permitted = {param for entry in entries for param in entry.params}
    unexpected = sorted(set(changed) - permitted)
    if unexpected or "postprocessors" in changed:
        raise ToolArgsError(f"these switches would change {', '.join(unexpected) or 'postprocessors'}, "
                            "which Haul does not allow")
    headers = {name.lower() for name in changed.get("http_headers", {})}
    if headers - allow.YTDLP_HEADERS:
        refused = sorted(headers - allow.YTDLP_HEADERS)
        raise ToolArgsError(f"the header {refused[0]} is not allowed; allowed: "
                            f"{', '.join(sorted(allow.YTDLP_HEADERS))}")
    return changed


# gallery-dl ----------------------------------------------------------------------------------


class _Raise(argparse.ArgumentParser):
    """An argparse parser that raises instead of printing usage and leaving the process."""

    def error(self, message):
        raise ToolArgsError(message)

    def exit(self, status=0, message=None):
        raise ToolArgsError(message.strip() if message else "invalid arguments")


class _Seen(argparse.Action):
    """Records that the word(s) belong to `original`, gallery-dl's action; does nothing else."""

    original: argparse.Action

    def __call__(self, parser, namespace, values, option_string=None):
        namespace.seen.append((option_string, self.original, values))


def _gallery_dl_parser() -> argparse.ArgumentParser:
    """A fresh gallery-dl parser: its `options` default is a list its actions append to, so
    a parser must not be reused."""
    from gallery_dl import option

    return option.build_parser()


@functools.lru_cache(maxsize=1)
def _gallery_dl_mirror() -> argparse.ArgumentParser:
    """gallery-dl's option strings and value counts, with actions that only record.

    argparse's reading of words (abbreviations, `-xVALUE`, clustered flags, `--`, values that
    look like switches) is argparse's own this way, not a copy of it.
    """
    real = _gallery_dl_parser()
    mirror = _Raise(prog="gallery-dl", add_help=False, allow_abbrev=real.allow_abbrev,
                    prefix_chars=real.prefix_chars, exit_on_error=False)
    for index, action in enumerate(real._actions):
        if action.option_strings:
            added = mirror.add_argument(*action.option_strings, dest=f"_{index}", nargs=action.nargs,
                                        action=_Seen, default=None)
        else:
            added = mirror.add_argument(f"_{index}", nargs=action.nargs, action=_Seen, default=None)
        added.original = action
    return mirror


def walk_gallery_dl(argv: list[str]) -> list[tuple[str | None, argparse.Action, object]]:
    """Each (switch as matched, gallery-dl's action, its values) `argv` names, as argparse reads it."""
    namespace = argparse.Namespace(seen=[])
    try:
        _gallery_dl_mirror().parse_args(argv, namespace)
    except argparse.ArgumentError as exc:
        raise ToolArgsError(str(exc)) from None
    return namespace.seen


_SECTION_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def _option_path_error(path, key: str) -> str | None:
    """Why an `-o` setting at `path`/`key` is refused, or None."""
    path = list(path)
    name = ".".join([*path, key])
    if key not in allow.GALLERY_DL_KEYS:
        return f"-o {name} is not allowed (only the keys on Haul's list are)"
    if path and (path[0] not in allow.GALLERY_DL_SECTIONS or not all(_SECTION_NAME.match(p) for p in path)):
        return f"-o {name}: only the top level and the extractor.SITE and downloader.NAME sections are allowed"
    return None


def _check_gallery_dl_words(seen) -> None:
    from gallery_dl import option as gdl_option

    setters = (gdl_option.ConfigAction, gdl_option.ConfigConstAction)
    for position, (switch, action, values) in enumerate(seen, start=1):
        if not action.option_strings:  # the URL positional
            if values:
                raise ToolArgsError("URLs and other bare words are not allowed")
            continue
        if type(action) in setters and action.dest in allow.GALLERY_DL_KEYS:
            continue
        if type(action) is gdl_option.ConfigParseAction:
            name = str(values).partition("=")[0].split(".")
            error = _option_path_error(name[:-1], name[-1])
            if error:
                raise ToolArgsError(error)
            continue
        raise _not_allowed(switch)


def _raise(message):
    raise ToolArgsError(message)


def _plain(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def parse_gallery_dl_args(args: str) -> tuple:
    """The (config path, key, value) settings that allowed switches `args` make.

    ToolArgsError names the first refused switch or key, or quotes gallery-dl's message.
    """
    argv = _split(args)
    if not argv:
        return ()
    _check_gallery_dl_words(walk_gallery_dl(argv))
    parser = _gallery_dl_parser()
    parser.error = _raise  # argparse would print usage and leave the process
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            parsed = parser.parse_args(argv)
    except SystemExit:
        raise ToolArgsError(_one_line(stderr.getvalue())) from None
    return _checked_gallery_dl_result(parsed)


def _checked_gallery_dl_result(parsed) -> tuple:
    """The settings, refused unless every one is an allowed key with a plain value and
    nothing else (URLs, input files, post-processors, ...) changed from gallery-dl's defaults."""
    defaults = vars(_gallery_dl_parser().parse_args([]))
    others = sorted(name for name, value in vars(parsed).items()
                    if name != "options" and value != defaults.get(name))
    if others:
        raise ToolArgsError(f"these switches would set {', '.join(others)}, which Haul does not allow")
    settings = []
    for path, key, value in parsed.options:
        error = _option_path_error(path, key)
        if error:
            raise ToolArgsError(error)
        if not _plain(value):
            raise ToolArgsError(f"{key}: only a plain value (text, a number, true or false) is allowed")
        settings.append((tuple(path), key, value))
    return tuple(settings)
