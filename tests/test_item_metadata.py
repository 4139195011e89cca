"""What the tools knew about an item, as Haul's metadata fields (webapp/core/item_metadata.py)."""
from __future__ import annotations

from datetime import datetime, timezone

from webapp.core import item_metadata


def test_a_ytdlp_info_dict_becomes_the_fields_with_a_readable_date_and_tag_list():
    info = {
        "id": "abc", "title": "  A title ", "uploader": "Someone", "channel": "Their channel",
        "upload_date": "20260203", "duration": 61.5, "description": "Words", "tags": ["one", "two", "one", ""],
        "view_count": 12, "webpage_url": "https://example.org/v/abc", "extractor_key": "Example",
        "width": 1920, "height": 1080, "vcodec": "avc1.64001F", "acodec": "mp4a.40.2", "ext": "mp4",
        "chapters": [{"title": "a"}, {"title": "b"}], "album": "An album", "artist": "An artist",
        "track_number": 3, "requested_subtitles": {"en": {}, "de": {}},
    }
    fields = item_metadata.from_ytdlp(info)
    assert fields == {
        "title": "A title", "uploader": "Someone", "channel": "Their channel", "upload_date": "2026-02-03",
        "duration": 61.5, "description": "Words", "tags": ["one", "two"], "view_count": 12,
        "webpage_url": "https://example.org/v/abc", "extractor": "Example", "width": 1920, "height": 1080,
        "vcodec": "avc1.64001F", "acodec": "mp4a.40.2", "container": "mp4",
        "extra": {"album": "An album", "artist": "An artist", "track": 3, "chapters": 2,
                  "subtitles": ["de", "en"], "id": "abc"},
    }


def test_ytdlp_fields_fall_back_and_leave_out_what_is_not_theirs():
    fields = item_metadata.from_ytdlp({"channel": "Chan", "timestamp": 1770112800, "duration": -1, "view_count": True,
                                       "vcodec": "none", "acodec": "opus", "artists": ["A", "B"], "title": 42})
    assert fields["uploader"] == "Chan"  # no uploader: the channel is who uploaded it
    assert fields["upload_date"] == "2026-02-03"  # from the timestamp
    assert "duration" not in fields and "view_count" not in fields and "title" not in fields
    assert "vcodec" not in fields and fields["acodec"] == "opus"
    assert fields["extra"] == {"artist": "A, B"}
    assert item_metadata.from_ytdlp(None) == {}


def test_gallery_dl_keywords_give_the_gallery_title_and_the_item_date():
    gallery = {"category": "site", "gallery_id": 7, "title": "My gallery", "user": {"name": "artist1"}}
    item = {"category": "site", "filename": "img1", "extension": "jpg", "date": datetime(2026, 1, 2, 3, 4, 5),
            "tags": "cat dog cat", "width": 640, "height": 480, "description": "A cat"}
    fields = item_metadata.from_gallery_dl(item, gallery)
    assert fields == {
        "title": "My gallery", "uploader": "artist1", "upload_date": "2026-01-02", "description": "A cat",
        "tags": ["cat", "dog"], "extractor": "site", "width": 640, "height": 480, "container": "jpg",
        "gallery_title": "My gallery", "item_date": "2026-01-02T03:04:05+00:00",
    }


def test_gallery_dl_item_without_a_gallery_is_its_own():
    fields = item_metadata.from_gallery_dl({"category": "generic", "title": "Page", "date": "2025-12-31 10:00:00",
                                            "tags": ["x", {"name": "y"}], "author": "someone"})
    assert fields["gallery_title"] == "Page" and fields["uploader"] == "someone"
    assert fields["tags"] == ["x", "y"] and fields["upload_date"] == "2025-12-31"
    assert fields["item_date"] == "2025-12-31 10:00:00"


def test_dates_in_every_shape_the_tools_give():
    assert item_metadata.upload_date("20261231") == "2026-12-31"
    assert item_metadata.upload_date("2026-12-31T10:00:00Z") == "2026-12-31"
    assert item_metadata.upload_date(datetime(2026, 5, 6, tzinfo=timezone.utc)) == "2026-05-06"
    assert item_metadata.upload_date("20261399") is None  # no such month
    assert item_metadata.upload_date("soon", timestamp=0) == "1970-01-01"
    assert item_metadata.upload_date(None) is None


def test_tags_are_one_per_line_capped_and_single_line():
    assert item_metadata.tags_text(["a", "b c"]) == "a\nb c"
    assert item_metadata.tag_list("one, two ,three") == ["one", "two", "three"]
    assert item_metadata.tag_list(["multi\nline  tag"]) == ["multi line tag"]
    assert len(item_metadata.tag_list([str(n) for n in range(500)])) == item_metadata.MAX_TAGS
    assert item_metadata.tags_text([]) is None
