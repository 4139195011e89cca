"""The extra gallery-dl and yt-dlp switches an admin may set: the one list, with a reason each.

A switch is on the list only when it is safe by construction: it tunes how a download goes
(speed, retries, pauses, which formats or items, subtitles, the network route, the request
headers a site sees) and cannot name a program to run, a file to read or write, code to
evaluate, a credential, or a post-processor. Everything else is refused, including every
switch a later release of either tool adds, until someone puts it here.

Nothing in this module imports the tools: the web process shows this list on the Settings
page without paying for yt-dlp's import.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class YtdlpSwitch:
    """An allowed yt-dlp switch: its optparse dest, the YoutubeDL parameters it may change, why."""

    dest: str
    params: tuple[str, ...]
    reason: str


def _y(dest: str, params: str, reason: str) -> YtdlpSwitch:
    return YtdlpSwitch(dest, tuple(params.split()), reason)


# Keyed by each option's canonical name (its first long switch); its aliases and short forms
# (-r, --rate-limit, -f, ...) map to the same option and are allowed with it.
YTDLP_SWITCHES: dict[str, YtdlpSwitch] = {
    # Pace and retries
    "--limit-rate": _y("ratelimit", "ratelimit", "caps the download speed"),
    "--throttled-rate": _y("throttledratelimit", "throttledratelimit", "re-extracts when a site throttles below it"),
    "--retries": _y("retries", "retries", "retries of a failed request"),
    "--fragment-retries": _y("fragment_retries", "fragment_retries", "retries of a failed fragment"),
    "--extractor-retries": _y("extractor_retries", "extractor_retries", "retries of a failed page extraction"),
    "--retry-sleep": _y("retry_sleep", "retry_sleep_functions", "pause between retries"),
    "--socket-timeout": _y("socket_timeout", "socket_timeout", "seconds to wait for a connection"),
    "--sleep-requests": _y("sleep_interval_requests", "sleep_interval_requests", "pause between page requests"),
    "--sleep-interval": _y("sleep_interval", "sleep_interval max_sleep_interval", "pause before each download"),
    "--max-sleep-interval": _y("max_sleep_interval", "max_sleep_interval", "upper bound of a random pause"),
    "--sleep-subtitles": _y("sleep_interval_subtitles", "sleep_interval_subtitles", "pause before each subtitle"),
    "--concurrent-fragments": _y("concurrent_fragment_downloads", "concurrent_fragment_downloads",
                                 "fragments fetched at once"),
    "--http-chunk-size": _y("http_chunk_size", "http_chunk_size", "size of each ranged request"),
    "--buffer-size": _y("buffersize", "buffersize", "download buffer size"),
    # Network route and what the site sees
    "--proxy": _y("proxy", "proxy", "the proxy every request goes through"),
    "--geo-verification-proxy": _y("geo_verification_proxy", "geo_verification_proxy",
                                   "a proxy for geo-restriction checks only"),
    "--geo-bypass": _y("geo_bypass", "geo_bypass", "fakes the X-Forwarded-For header for geo restrictions"),
    "--no-geo-bypass": _y("geo_bypass", "geo_bypass", "turns that off"),
    "--geo-bypass-country": _y("geo_bypass", "geo_bypass geo_bypass_country", "the country to appear from"),
    "--geo-bypass-ip-block": _y("geo_bypass", "geo_bypass geo_bypass_ip_block", "the address block to appear from"),
    "--xff": _y("geo_bypass", "geo_bypass geo_bypass_country geo_bypass_ip_block", "the same, in one switch"),
    "--force-ipv4": _y("source_address", "source_address", "connect over IPv4 only"),
    "--force-ipv6": _y("source_address", "source_address", "connect over IPv6 only"),
    "--source-address": _y("source_address", "source_address", "the local address to connect from"),
    "--user-agent": _y("user_agent", "http_headers", "the User-Agent header"),
    "--referer": _y("referer", "http_headers", "the Referer header"),
    "--add-headers": _y("headers", "http_headers", "other request headers (names on YTDLP_HEADERS only)"),
    "--hls-prefer-native": _y("hls_prefer_native", "hls_prefer_native", "HLS through yt-dlp itself, not ffmpeg"),
    # What to download
    "--format": _y("format", "format", "format selection (-f)"),
    "--format-sort": _y("format_sort", "format_sort", "format sorting (-S)"),
    "--format-sort-force": _y("format_sort_force", "format_sort_force", "the sort order over the site's preference"),
    "--no-format-sort-force": _y("format_sort_force", "format_sort_force", "turns that off"),
    "--merge-output-format": _y("merge_output_format", "merge_output_format", "the container merged formats go in"),
    "--prefer-free-formats": _y("prefer_free_formats", "prefer_free_formats", "free containers first"),
    "--no-prefer-free-formats": _y("prefer_free_formats", "prefer_free_formats", "turns that off"),
    "--playlist-items": _y("playlist_items", "playlist_items", "which playlist items (-I 1:5)"),
    "--playlist-start": _y("playliststart", "playliststart", "the first playlist item"),
    "--playlist-end": _y("playlistend", "playlistend", "the last playlist item"),
    "--playlist-reverse": _y("playlist_reverse", "playlistreverse", "playlist in reverse order"),
    "--no-playlist-reverse": _y("playlist_reverse", "playlistreverse", "turns that off"),
    "--playlist-random": _y("playlist_random", "playlistrandom playlistreverse", "playlist in random order"),
    "--no-playlist": _y("noplaylist", "noplaylist", "only the video when a link names a video and a playlist"),
    "--yes-playlist": _y("noplaylist", "noplaylist", "the whole playlist then"),
    "--min-filesize": _y("min_filesize", "min_filesize", "skip smaller files"),
    "--max-filesize": _y("max_filesize", "max_filesize", "skip larger files"),
    "--date": _y("date", "daterange", "only videos from that day"),
    "--datebefore": _y("datebefore", "daterange", "only videos up to that day"),
    "--dateafter": _y("dateafter", "daterange", "only videos from that day on"),
    "--age-limit": _y("age_limit", "age_limit", "skip videos above that age rating"),
    # Subtitles and languages
    "--write-subs": _y("writesubtitles", "writesubtitles", "save subtitles beside the video"),
    "--no-write-subs": _y("writesubtitles", "writesubtitles", "turns that off"),
    "--write-auto-subs": _y("writeautomaticsub", "writeautomaticsub", "save automatic subtitles too"),
    "--no-write-auto-subs": _y("writeautomaticsub", "writeautomaticsub", "turns that off"),
    "--sub-langs": _y("subtitleslangs", "subtitleslangs", "which subtitle languages"),
    "--sub-format": _y("subtitlesformat", "subtitlesformat", "which subtitle format"),
}

# The optparse actions an allowed yt-dlp switch may have: storing its value (or a constant),
# or yt-dlp's own list/dict splitting callbacks. A switch whose action changes upstream to
# anything else is refused until it is looked at again.
YTDLP_ACTIONS = ("store", "store_true", "store_false", "store_const", "append")
YTDLP_CALLBACKS = ("_list_from_options_callback", "_dict_from_options_callback")

# Request headers --add-headers may set (lower case). Not Cookie or Authorization: a
# credential set here would go with every job, guests' too.
YTDLP_HEADERS = frozenset({"user-agent", "referer", "accept", "accept-language", "dnt", "origin"})


@dataclass(frozen=True)
class GalleryDlKey:
    """An allowed gallery-dl configuration key: why, and the switches that set it."""

    reason: str
    switches: tuple[str, ...]


def _g(reason: str, *switches: str) -> GalleryDlKey:
    return GalleryDlKey(reason, switches)


# gallery-dl's switches are config setters: each sets one key of its configuration (the
# argparse dest), as `-o key=value` does. So its list is of configuration keys: a switch is
# allowed when it only sets a key on this list, and `-o`/`--option` only for these keys, at
# the top level or under `extractor.<site>` / `downloader.<name>`, with a plain value (text,
# number, true/false). Keys that are not here include every one naming a file or a program
# (base-directory, cookies, archive, *-file, exec, module, raw-options, config-file),
# credentials (username, password, netrc), Python expressions gallery-dl evaluates (filter,
# file-filter, image-filter, post-filter, child-filter) and postprocessors: no post-processor
# is allowed, not even `metadata`, whose format strings gallery-dl can evaluate as Python.
GALLERY_DL_KEYS: dict[str, GalleryDlKey] = {
    "rate": _g("caps the download speed", "--limit-rate", "-r"),
    "retries": _g("retries of a failed request", "--retries", "-R"),
    "timeout": _g("seconds to wait for a connection", "--http-timeout"),
    "user-agent": _g("the User-Agent header", "--user-agent", "-a"),
    "proxy": _g("the proxy every request goes through", "--proxy"),
    "geo-bypass": _g("fakes the X-Forwarded-For header for geo restrictions", "--xff"),
    "source-address": _g("the local address to connect from", "--source-address", "-4", "-6"),
    "chunk-size": _g("download buffer size", "--chunk-size"),
    "sleep": _g("pause before each download", "--sleep"),
    "sleep-request": _g("pause between requests", "--sleep-request"),
    "sleep-extractor": _g("pause before starting a page", "--sleep-extractor"),
    "sleep-retries": _g("pause between retries", "--sleep-retries"),
    "sleep-429": _g("pause after 429 Too Many Requests", "--sleep-429"),
    "sleep-skip": _g("pause after a skipped file", "--sleep-skip"),
    "filesize-min": _g("skip smaller files", "--filesize-min"),
    "filesize-max": _g("skip larger files", "--filesize-max"),
    "date-before": _g("only posts before that date", "--date-before"),
    "date-after": _g("only posts after that date", "--date-after"),
    "file-range": _g("which files, e.g. 1-10", "--range", "--file-range"),
    "post-range": _g("which posts", "--post-range"),
    "child-range": _g("which chapters or child galleries", "--child-range", "--chapter-range"),
}

# Where `-o` may put an allowed key: the top level, or a section of these (and the sites or
# downloaders under it, e.g. extractor.twitter.sleep-request).
GALLERY_DL_SECTIONS = ("extractor", "downloader")


def gallery_dl_switches() -> list[str]:
    """gallery-dl's allowed switches (besides -o KEY=VALUE for an allowed key), for the Settings page."""
    return [switch for key in GALLERY_DL_KEYS.values() for switch in key.switches]
