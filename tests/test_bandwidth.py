"""The bandwidth limits' bucket (jobs/bandwidth.py): its schedule, the split among downloads, the
per-download limit, settings read again while downloads run, the process share; sizes as typed.

tests/test_e2e_bandwidth.py measures the limit with three real downloads from the local site.
"""
from __future__ import annotations

import threading
import time

import pytest

from jobs import bandwidth
from jobs.engines.base import DownloadRequest
from jobs.engines.ytdlp import _JobHooks
from webapp.core.byte_sizes import parse_size, short_size
from webapp.services.admin import limits_settings, runtime_settings

KIB, MIB = 1024, 1024 * 1024


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_bucket_without_a_rate_never_waits():
    assert bandwidth.Bucket(0).reserve(10 * MIB) == 0


def test_the_bucket_schedules_bytes_at_its_rate():
    clock = FakeClock()
    bucket = bandwidth.Bucket(MIB, burst_seconds=0, clock=clock)
    assert bucket.reserve(MIB) == 0  # the first second's worth goes at once…
    assert bucket.reserve(MIB) == pytest.approx(1.0)  # …the next waits for its turn
    assert bucket.reserve(MIB // 2) == pytest.approx(2.0)
    clock.now += 10  # idle time is not saved up beyond the burst
    assert bucket.reserve(MIB) == 0
    assert bucket.reserve(MIB) == pytest.approx(1.0)


def test_a_rate_change_applies_to_the_next_bytes():
    clock = FakeClock()
    bucket = bandwidth.Bucket(MIB, burst_seconds=0, clock=clock)
    bucket.reserve(MIB)
    bucket.set_rate(2 * MIB)
    assert bucket.reserve(MIB) == pytest.approx(1.0)  # the booked second stands
    assert bucket.reserve(MIB) == pytest.approx(1.5)  # then half a second per MiB


def _limits(limit, per_job=0, processes=1):
    values = {limits_settings.BANDWIDTH_LIMIT: limit, limits_settings.PER_JOB_BANDWIDTH_LIMIT: per_job}
    limits = bandwidth.Limits(lambda: dict(values), processes)
    limits.refresh(force=True)
    return limits, values


def _download(limits, total, chunk, counted, stop):
    throttle = limits.for_download()
    done = 0
    while not stop.is_set() and done < total:
        throttle(chunk)
        done += chunk
        counted[threading.get_ident()] = done


def _run_parallel(limits, chunks, seconds=None, total=None):
    """Downloads with these chunk sizes at once; (bytes each, wall seconds)."""
    counted, stop = {}, threading.Event()
    threads = [threading.Thread(target=_download, args=(limits, total or 10 ** 12, chunk, counted, stop))
               for chunk in chunks]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    if seconds:
        time.sleep(seconds)
        stop.set()
    for thread in threads:
        thread.join()
    return [counted[t.ident] for t in threads], time.monotonic() - started


def test_the_limit_is_split_among_downloads_not_multiplied():
    """Three downloads under 2 MiB/s share it: about 2 MiB/s between them, a third each."""
    limits, _values = _limits(2 * MIB)
    sizes, elapsed = _run_parallel(limits, [64 * KIB] * 3, total=2 * MIB)
    assert sum(sizes) / elapsed == pytest.approx(2 * MIB, rel=0.15)


def test_downloads_reading_big_blocks_take_turns_with_small_ones():
    """Fair: a download handing over 1 MiB blocks gets no more than one reading 16 KiB ones."""
    limits, _values = _limits(4 * MIB)
    sizes, _elapsed = _run_parallel(limits, [MIB, 16 * KIB, 64 * KIB], seconds=1.5)
    # The big reader's count moves in steps of 1 MiB: allow it one block of slack.
    share = sum(sizes) / 3
    for size in sizes:
        assert abs(size - share) <= MIB + 0.15 * share, sizes


def test_the_per_download_limit_holds_within_the_global_one():
    limits, _values = _limits(0, per_job=MIB)
    sizes, elapsed = _run_parallel(limits, [64 * KIB] * 2, total=MIB)
    assert elapsed == pytest.approx(1.0, rel=0.2)  # each at 1 MiB/s, side by side
    assert sizes == [MIB, MIB]


def test_a_changed_setting_reaches_running_downloads(monkeypatch):
    monkeypatch.setattr(bandwidth, "REFRESH_SECONDS", 0.05)
    limits, values = _limits(128 * KIB)
    values[limits_settings.BANDWIDTH_LIMIT] = 0
    time.sleep(0.06)
    started = time.monotonic()
    limits.for_download()(4 * MIB)  # would take 32 s at the old limit
    assert time.monotonic() - started < 1.0
    assert limits.shared.rate == 0


def test_no_download_goes_unlimited_while_the_first_reads_the_settings():
    """The first reading of the settings is slow (a busy database): downloads wait for it
    instead of running unlimited meanwhile."""
    def slow_read():
        time.sleep(0.3)
        return {limits_settings.BANDWIDTH_LIMIT: MIB, limits_settings.PER_JOB_BANDWIDTH_LIMIT: 0}

    limits = bandwidth.Limits(slow_read)
    sizes, elapsed = _run_parallel(limits, [64 * KIB] * 3, total=MIB)
    assert sum(sizes) == 3 * MIB
    assert elapsed >= 0.3 + 2.5  # 3 MiB at 1 MiB/s (less the burst) after the read


def test_the_job_s_settings_apply_before_its_first_byte():
    limits = bandwidth.Limits(lambda: pytest.fail("read again too early"))
    effective = runtime_settings.Effective(**{**{k: 0 for k in runtime_settings.KEYS},
                                              "bandwidth_limit": 2 * MIB, "per_job_bandwidth_limit": 0})
    limits.configure(effective.bandwidth_limit, effective.per_job_bandwidth_limit)
    limits.for_download()(64 * KIB)
    assert limits.shared.rate == 2 * MIB


def test_process_workers_each_take_their_share():
    limits, _values = _limits(3 * MIB, processes=3)
    assert limits.shared.rate == MIB


def test_a_cancelled_download_stops_waiting():
    limits, _values = _limits(16 * KIB)
    cancel = threading.Event()
    throttle = limits.for_download(cancel)
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    throttle(4 * MIB)  # 256 s at this rate
    assert time.monotonic() - started < 2


def test_the_settings_limits_are_read_in_a_context_of_their_own(app):
    runtime_settings.save({"bandwidth_limit": "1M", "per_job_bandwidth_limit": "256K"})
    limits = bandwidth.Limits(bandwidth.process_limits(app).read_settings)
    limits.refresh(force=True)
    assert limits.shared.rate == MIB and limits.per_job_rate == 256 * KIB


def test_yt_dlp_s_progress_hook_hands_each_block_s_bytes_to_the_throttle(tmp_path):
    told = []
    request = DownloadRequest(url="http://x/", base_dir=tmp_path, storage_root=tmp_path, report=lambda p: None,
                              add_file=lambda p: None, cancel_event=threading.Event(), throttle=told.append)
    hooks = _JobHooks(request)
    for done in (1000, 5000, 9000):
        hooks.on_progress({"status": "downloading", "tmpfilename": "a.part", "filename": "a", "downloaded_bytes": done})
    hooks.on_progress({"status": "finished", "filename": "a", "downloaded_bytes": 9000})  # nothing new
    hooks.on_progress({"status": "downloading", "tmpfilename": "b.part", "filename": "b", "downloaded_bytes": 700})
    assert told == [1000, 4000, 4000, 700]


@pytest.mark.parametrize("text, value", [
    ("0", 0), (1536, 1536), ("500K", 500 * KIB), ("5M", 5 * MIB), ("5m", 5 * MIB), ("2G", 2 * 1024 ** 3),
    ("1.5M", int(1.5 * MIB)), ("5 MiB", 5 * MIB), ("5MB/s", 5 * MIB), (" 16k ", 16 * KIB),
])
def test_sizes_as_people_type_them(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "fast", "-5M", "5X", "1e9", "5 M M", True, None, "9" * 50])
def test_what_is_not_a_size(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_short_sizes_read_back():
    for value in (0, 1536, 5 * MIB, 2 * 1024 ** 3, 1000):
        assert parse_size(short_size(value)) == value
    assert short_size(5 * MIB) == "5M" and short_size(2 * 1024 ** 3) == "2G"
