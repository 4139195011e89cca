"""The library rescan at scale: a library Haul never recorded, imported, then scanned again.

Run it as ``.venv/bin/python tests/bench/bench_library.py [--images N] [--videos N]``; ``make
bench`` runs it. Not part of ``make test``.

A fresh data dir and storage root get N small image files and M short videos (a 1 s H.264 clip
made by ffmpeg, each copy made distinct), laid out as Haul lays out downloads
(`<post>/<domain>/<id>/<name>`), half of the videos with an ``.info.json`` beside them. After the
rescan's settle time (files younger than 10 s are left for the next scan), it times:

1. ``flask --app wsgi library rescan`` on that library: every file hashed, every video probed,
   everything imported. Beside it, the floor of the same work measured in the same run: the
   files hashed by ``sha256sum`` (through ``find | xargs``) plus one ``ffprobe`` per video.
2. The same command again, which must change nothing. Beside it: ``find`` listing the files
   with their sizes and times (the walk and a stat per file, which the rescan cannot skip).

Peak memory is the command's maximum resident set size.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SETTLE_SECONDS = 11  # the rescan leaves files changed in the last 10 s for the next one


def _make_library(storage: Path, images: int, videos: int, rng: random.Random) -> list[Path]:
    clip = storage.parent / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=1:size=160x120:rate=25",
                    "-f", "lavfi", "-i", "sine=duration=1", "-c:v", "libx264", "-c:a", "aac", "-shortest",
                    str(clip)], check=True)
    base = clip.read_bytes()
    media = []
    for n in range(videos):
        folder = storage / f"Post {n % 20}" / "videos.example" / f"v{n:06d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"Video {n} [v{n:06d}].mp4"
        path.write_bytes(base + n.to_bytes(8, "big"))  # distinct content: each a file of its own
        media.append(path)
        if n % 2 == 0:
            (folder / f"Video {n} [v{n:06d}].info.json").write_text(
                f'{{"id": "v{n:06d}", "title": "Video {n}", "uploader": "Channel {n % 50}", '
                f'"upload_date": "20260{1 + n % 9}15", "duration": 1, "tags": ["bench"], '
                f'"webpage_url": "https://videos.example/watch/v{n:06d}"}}')
    for n in range(images):
        folder = storage / f"Album {n % 100}" / "images.example" / f"g{n // 10:06d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{n:06d}.jpg").write_bytes(rng.randbytes(4096))
    return media


def _timed(command: list[str] | str, env: dict, shell: bool = False) -> tuple[float, str]:
    began = time.perf_counter()
    done = subprocess.run(command, env=env, shell=shell, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{command} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, done.stdout


def _last_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    completed = [line for line in lines if line.startswith("Completed")]
    return (completed or lines or [""])[-1]


def library_benchmark(images: int, videos: int, log=print) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="haul-bench-library-"))
    try:
        storage, data = workdir / "library", workdir / "data"
        storage.mkdir()
        env = dict(os.environ, HAUL_DATA_DIR=str(data), HAUL_STORAGE_ROOT=str(storage), FLASK_APP="wsgi")
        log(f"library benchmark: {images:,} images and {videos:,} videos ...")
        media = _make_library(storage, images, videos, random.Random(15))
        _timed([PYTHON, "-m", "flask", "--app", "wsgi", "db", "upgrade"], env)
        time.sleep(SETTLE_SECONDS)

        hashed, _ = _timed(f"find {shlex_quote(storage)} -type f -print0 | xargs -0 sha256sum > /dev/null", env,
                           shell=True)
        began = time.perf_counter()
        for path in media:
            subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
                           check=True, capture_output=True)
        probed = time.perf_counter() - began
        walked, _ = _timed(f"find {shlex_quote(storage)} -type f -printf '%s %T@ %p\\n' > /dev/null", env,
                           shell=True)

        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        first, first_out = _timed([PYTHON, "-m", "flask", "--app", "wsgi", "library", "rescan"], env)
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        second, second_out = _timed([PYTHON, "-m", "flask", "--app", "wsgi", "library", "rescan"], env)
        # ru_maxrss of children is the largest child so far: the rescan's, unless ffmpeg's was larger.
        results = {
            "files": images + videos + (videos + 1) // 2, "images": images, "videos": videos,
            "first_s": first, "floor_first_s": hashed + probed, "hash_s": hashed, "probe_s": probed,
            "second_s": second, "floor_second_s": walked, "peak_rss_mb": max(peak_kb, before) / 1024,
            "first_line": _last_line(first_out), "second_line": _last_line(second_out),
        }
        return results
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def shlex_quote(path: Path) -> str:
    return shlex.quote(str(path))


def _inner_seconds(line: str) -> float | None:
    """The rescan's own time ("Completed in 1.6 s: …"), without the command's start-up."""
    match = re.match(r"Completed in ([0-9.]+) s", line)
    return float(match.group(1)) if match else None


def report(results: dict, log=print) -> None:
    log(f"\nLibrary rescan of {int(results['files']):,} files ({results['images']:,} images, {results['videos']:,} "
        f"videos, half with an info.json)")
    log(f"  first rescan (imports everything) {results['first_s']:7.1f} s   floor: sha256sum of every file "
        f"{results['hash_s']:.1f} s + ffprobe per video {results['probe_s']:.1f} s = {results['floor_first_s']:.1f} s"
        f"   ratio {results['first_s'] / results['floor_first_s']:.2f}x")
    inner = _inner_seconds(results["first_line"])
    if inner:
        log(f"    the rescan itself (without the command's start-up) {inner:.1f} s: "
            f"{inner / results['floor_first_s']:.2f}x the floor")
    log(f"    {results['first_line']}")
    log(f"  second rescan (changes nothing)   {results['second_s']:7.1f} s   floor: find with size and time "
        f"{results['floor_second_s']:.2f} s   ratio {results['second_s'] / max(results['floor_second_s'], 0.001):.1f}x")
    inner = _inner_seconds(results["second_line"])
    if inner is not None:
        log(f"    the rescan itself {inner:.1f} s")
    log(f"    {results['second_line']}")
    log(f"  peak RSS of the rescan command {results['peak_rss_mb']:.0f} MB")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=19_500)
    parser.add_argument("--videos", type=int, default=500)
    args = parser.parse_args(argv)
    report(library_benchmark(args.images, args.videos))
    return 0


if __name__ == "__main__":
    sys.exit(main())
