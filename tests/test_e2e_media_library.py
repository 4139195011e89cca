"""End to end: downloads a media server reads as they are — with the real gunicorn web process,
Huey consumer, yt-dlp, gallery-dl and ffmpeg against the local media site's rich pages
(/show/<name>: JSON-LD, a player with a subtitle track and media with chapters; /song/<name>).

Each check reads the files the way a media server's scanner does: ffprobe for streams, tags
and chapters, mutagen for the tags of a song, ElementTree for the .nfo."""
from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import pytest
from mutagen import File as MutagenFile
from mutagen.id3 import ID3

PRESETS = {
    "library": {"label": "Library (test)", "subtitles": True, "subtitle_languages": ["en"], "container": "mp4",
                "embed_thumbnail": True, "write_poster": True, "write_nfo": True, "write_info_json": True},
    "series": {"label": "Series (test)", "write_nfo": True, "nfo_layout": "series", "write_poster": True,
               "filename_template": "{index} {title}"},
    "opus": {"label": "Opus (test)", "kind": "audio", "audio_codec": "opus", "embed_thumbnail": True},
    "m4a": {"label": "M4A (test)", "kind": "audio", "audio_codec": "m4a", "audio_quality": 128,
            "embed_thumbnail": True},
    "galleryjson": {"label": "Gallery JSON (test)", "write_info_json": True},
}


@pytest.fixture(scope="module")
def library_stack(stack):
    """The module's stack with the test presets as rows (as an admin would have saved them)."""
    now = stack.timestamp(datetime.now(timezone.utc))
    for position, (name, options) in enumerate(PRESETS.items(), start=50):
        options = dict(options)
        label = options.pop("label")
        stack.sql("DELETE FROM presets WHERE name = :name", name=name)
        stack.sql("INSERT INTO presets (name, label, options, built_in, position, created_at, updated_at) "
                  "VALUES (:name, :label, :options, :built_in, :position, :now, :now)",
                  name=name, label=label, options=json.dumps(options), built_in=False, position=position, now=now)
    return stack


def queue(stack, urls, **fields) -> int:
    answer = stack.session.post(f"{stack.base_url}/api/v1/queue", json={"urls": urls, **fields}, timeout=10)
    assert answer.status_code in (201, 202), answer.text
    return answer.json()["jobs"][0]["id"]


def finished(stack, job_id: int, timeout: float = 90) -> dict:
    job = stack.wait_for_job(job_id, timeout=timeout)
    assert job["status"] == "completed", job
    return job


def children(stack, parent_id: int) -> list[dict]:
    answer = stack.session.get(f"{stack.base_url}/api/v1/downloads/{parent_id}/children",
                               params={"per_page": 100}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def recorded_files(stack, job_id: int) -> dict[str, str]:
    """path -> kind of each file recorded for the job, read from the database."""
    rows = stack.sql("SELECT path, kind FROM job_files WHERE job_id = :job_id ORDER BY id", job_id=job_id)
    return {row["path"]: row["kind"] for row in rows}


def metadata_row(stack, job_id: int) -> dict:
    rows = stack.sql("SELECT * FROM job_metadata WHERE job_id = :job_id", job_id=job_id)
    assert rows, f"job {job_id} has no metadata row"
    row = rows[0]
    if isinstance(row["extra"], str):  # SQLite keeps JSON as text; PostgreSQL's driver decodes it
        row["extra"] = json.loads(row["extra"])
    return row


def probe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_chapters", "-show_format", "-of", "json",
                          str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def of_kind(files: dict[str, str], kind: str) -> list[str]:
    return [path for path, file_kind in files.items() if file_kind == kind]


def test_a_show_with_a_library_preset_has_subtitles_chapters_tags_cover_poster_nfo_and_info_json(
        library_stack, media_site):
    stack = library_stack
    show = media_site.show("lib-one")
    job = finished(stack, queue(stack, [media_site.url("/show/lib-one")], preset="library"))
    assert job["title"] == "Show lib-one"
    files = recorded_files(stack, job["id"])
    [media] = of_kind(files, "media")
    [poster] = of_kind(files, "poster")
    [info_json] = of_kind(files, "info-json")
    [nfo] = of_kind(files, "nfo")
    assert list(files)[0] == media  # the media first, what is beside it after
    stem = media.removesuffix(".mp4")
    assert media.endswith(".mp4") and poster == stem + "-poster.jpg"
    assert info_json == stem + ".info.json" and nfo == stem + ".nfo"
    assert of_kind(files, "subtitle") == []  # embedded: the .vtt is not left beside
    on_disk = sorted(str(p.relative_to(stack.storage_root)) for p in (stack.storage_root / media).parent.iterdir())
    assert on_disk == sorted(files)

    probed = probe(stack.storage_root / media)
    streams = probed["streams"]
    subtitle = [s for s in streams if s["codec_type"] == "subtitle"]
    assert [s["codec_name"] for s in subtitle] == ["mov_text"] and subtitle[0]["tags"]["language"] == "eng"
    assert any(s["codec_type"] == "video" and s["disposition"]["attached_pic"] == 1 for s in streams)  # the cover
    assert any(s["codec_type"] == "video" and s["disposition"]["attached_pic"] == 0 and s["width"] == 160
               for s in streams)
    assert [c["tags"]["title"] for c in probed["chapters"]] == show["chapters"]
    tags = probed["format"]["tags"]
    assert tags["title"] == show["title"] and tags["artist"] == show["uploader"]
    assert tags["date"] == "20260203" and tags["description"] == show["description"]

    root = ET.parse(stack.storage_root / nfo).getroot()
    assert root.tag == "movie"
    assert root.findtext("title") == show["title"] and root.findtext("plot") == show["description"]
    assert root.findtext("premiered") == "2026-02-03" and root.findtext("year") == "2026"
    assert root.findtext("runtime") == "1" and root.findtext("studio") == show["uploader"]
    assert [tag.text for tag in root.findall("tag")] == show["tags"]
    assert root.find("uniqueid").text == "lib-one-1" and root.find("uniqueid").get("type") == "html5mediaembed"
    assert root.findtext("thumb") == Path(poster).name

    info = json.loads((stack.storage_root / info_json).read_text())
    assert info["id"] == "lib-one-1" and info["uploader"] == show["uploader"]
    assert (stack.storage_root / poster).read_bytes()[:2] == b"\xff\xd8"  # a JPEG, as media servers want

    row = metadata_row(stack, job["id"])
    assert row["uploader"] == show["uploader"] and row["upload_date"] == "2026-02-03"
    assert row["tags"].split("\n") == show["tags"] and row["duration"] == 4
    assert row["view_count"] == 1234 and row["description"] == show["description"]
    assert row["webpage_url"] == media_site.url("/show/lib-one") and row["extractor"] == "HTML5MediaEmbed"
    assert (row["width"], row["height"], row["vcodec"], row["acodec"], row["container"]) == (
        160, 120, "h264", "aac", "mp4")
    assert row["extra"]["chapters"] == 2


def test_the_shipped_audio_preset_makes_tagged_mp3s_with_covers_of_a_collection(library_stack, media_site):
    stack = library_stack
    media_site.feed("album", count=2)
    parent = finished(stack, queue(stack, [media_site.url("/feed/album.xml?links=song")], preset="audio"))
    assert parent["title"] == "Feed album"
    songs = children(stack, parent["id"])
    assert [child["status"] for child in songs] == ["completed", "completed"]
    for child in songs:
        files = recorded_files(stack, child["id"])
        [song_path] = of_kind(files, "audio")
        assert list(files) == [song_path] and song_path.endswith(".mp3")  # the cover is inside, not beside
        name = child["url"].rsplit("/", 1)[1]
        expected = media_site.song(name)
        tags = ID3(stack.storage_root / song_path)
        assert str(tags["TIT2"]) == expected["title"]
        assert str(tags["TPE1"]) == expected["artist"]
        assert str(tags["TALB"]) == "Feed album"  # the collection is the album …
        assert str(tags["TRCK"]) == str(child["position"])  # … and its position the track
        # ID3v2.3 (what yt-dlp writes for the cover's sake) holds the year of the upload date.
        assert str(tags["TDRC"]) == "2026"
        [cover] = tags.getall("APIC")
        assert cover.mime == "image/jpeg" and cover.data[:2] == b"\xff\xd8"
        audio = MutagenFile(stack.storage_root / song_path)
        assert audio.info.length == pytest.approx(2, abs=0.2)
        row = metadata_row(stack, child["id"])
        assert row["uploader"] == expected["uploader"] and row["tags"].split("\n") == expected["tags"]
        assert (row["acodec"], row["container"], row["vcodec"]) == ("mp3", "mp3", None)
        assert row["extra"] == {"album": "Feed album", "artist": expected["artist"],
                                            "track": child["position"], "id": name}


@pytest.mark.parametrize("preset,suffix", [("opus", ".opus"), ("m4a", ".m4a")])
def test_other_audio_codecs_carry_their_containers_tags_and_cover(library_stack, media_site, preset, suffix):
    stack = library_stack
    name = f"single-{preset}"
    expected = media_site.song(name)
    job = finished(stack, queue(stack, [media_site.url(f"/song/{name}")], preset=preset))
    [song_path] = of_kind(recorded_files(stack, job["id"]), "audio")
    assert song_path.endswith(suffix)
    audio = MutagenFile(stack.storage_root / song_path)
    if preset == "opus":  # Vorbis comments, the cover as a METADATA_BLOCK_PICTURE
        assert audio.tags["title"] == [expected["title"]] and audio.tags["artist"] == [expected["artist"]]
        assert audio.tags["date"] == ["20260304"]
        assert audio.tags["METADATA_BLOCK_PICTURE"]
    else:  # MP4 atoms, the cover as covr
        assert audio.tags["\xa9nam"] == [expected["title"]] and audio.tags["\xa9ART"] == [expected["artist"]]
        assert audio.tags["\xa9day"][0].startswith("2026")
        assert bytes(audio.tags["covr"][0])[:2] == b"\xff\xd8"
    streams = probe(stack.storage_root / song_path)["streams"]
    assert [s["codec_name"] for s in streams if s["codec_type"] == "audio"] == [
        "opus" if preset == "opus" else "aac"]


def test_a_collection_as_a_series_has_a_tvshow_nfo_and_numbered_episodes(library_stack, media_site):
    stack = library_stack
    media_site.feed("serial", count=2)
    parent = finished(stack, queue(stack, [media_site.url("/feed/serial.xml?links=show")], preset="series"),
                      timeout=120)
    episodes = children(stack, parent["id"])
    assert [child["status"] for child in episodes] == ["completed", "completed"]
    shows = []
    for child in episodes:
        files = recorded_files(stack, child["id"])
        [nfo] = [path for path in of_kind(files, "nfo") if not path.endswith("/tvshow.nfo")]
        [media] = of_kind(files, "media")
        # {index} in the template: the child's position in the collection.
        assert Path(media).name.startswith(f"{child['position']} Show serial-")
        root = ET.parse(stack.storage_root / nfo).getroot()
        assert root.tag == "episodedetails"
        assert root.findtext("showtitle") == "Feed serial"
        assert root.findtext("season") == "2026" and root.findtext("episode") == str(child["position"])
        shows += [path for path in of_kind(files, "nfo") if path.endswith("/tvshow.nfo")]
    # Written once, in the collection's own folder, beside the episodes' folders.
    [show] = shows
    assert Path(show).parent == Path(of_kind(recorded_files(stack, episodes[0]["id"]), "media")[0]).parent.parent
    root = ET.parse(stack.storage_root / show).getroot()
    assert root.tag == "tvshow" and root.findtext("title") == "Feed serial"


def test_a_gallery_records_its_images_and_their_info_json_by_kind(library_stack, media_site):
    stack = library_stack
    job = finished(stack, queue(stack, [media_site.url("/gallery/kinds?count=3")], preset="galleryjson",
                                engine="gallery-dl"))
    files = recorded_files(stack, job["id"])
    images = of_kind(files, "media")
    infos = of_kind(files, "info-json")
    assert len(images) == 3 and len(infos) == 3 and len(files) == 6
    for image in images:
        info_json = image.rsplit(".", 1)[0] + ".info.json"
        assert info_json in infos
        assert json.loads((stack.storage_root / info_json).read_text())["category"] == "generic"
    row = metadata_row(stack, job["id"])
    assert row["gallery_title"] == "Gallery kinds" and row["extractor"] == "generic"
