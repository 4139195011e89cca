"""A collection's options (webapp/core/listings.py): what they accept, which entries they take,
the names they number, and a listing's JSON round trip (the preview's process prints it)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from webapp.core.item_filters import Item
from webapp.core.listings import Listing, Options, OptionsProblem

ENTRIES = list(range(1, 11))  # ten entries, as listed (a channel lists its newest first)


def test_no_options_take_everything_in_the_listed_order_in_a_folder_of_its_own():
    options = Options.from_json(None)
    assert options.pick(ENTRIES) == ENTRIES
    assert options.folder is True and options.numbered is False
    assert options.name_prefix(3, 10) is None


@pytest.mark.parametrize("data,expected", [
    ({"limit": 3}, [1, 2, 3]),
    ({"limit": 3, "order": "oldest"}, [3, 2, 1]),
    ({"items": "2-4,9"}, [2, 3, 4, 9]),
    ({"items": "4-2"}, [2, 3, 4]),  # a range written backwards is the same range
    ({"items": "9,2-3,3"}, [9, 2, 3]),  # each entry once, in the order asked
    ({"items": "8-50"}, [8, 9, 10]),  # places past the end are simply not there
    ({"items": "1-6", "limit": 2}, [1, 2]),  # the limit keeps the first of what items picked
    ({"items": "1-6", "limit": 2, "order": "oldest"}, [2, 1]),
])
def test_items_limit_and_order_pick(data, expected):
    assert Options.from_json(data).pick(ENTRIES) == expected


@pytest.mark.parametrize("data,problem", [
    ("all", "must be an object"),
    ({"items": "one to four"}, "must be a range"),
    ({"items": 5}, "must be a range"),
    ({"limit": 0}, "whole number from 1"),
    ({"limit": True}, "whole number from 1"),
    ({"limit": 10_001}, "whole number from 1"),
    ({"order": "random"}, "newest or oldest"),
    ({"numbered": "yes"}, "true or false"),
    ({"shuffle": True}, "Unknown collection option(s): shuffle"),
])
def test_bad_options_are_refused_with_a_reason(data, problem):
    with pytest.raises(OptionsProblem, match=problem.replace("(", r"\(").replace(")", r"\)")):
        Options.from_json(data)


def test_numbered_names_are_zero_padded_to_the_collections_size():
    options = Options.from_json({"numbered": True})
    assert options.name_prefix(7, 9) == "07 - "
    assert options.name_prefix(7, 120) == "007 - "
    assert Options.from_json(options.to_json()) == options


def test_a_listing_survives_its_json_round_trip():
    listing = Listing("PL1", "A playlist", "YoutubeTab", [
        Item(url="https://example.com/watch?v=a", title="A", published=datetime(2026, 1, 2, tzinfo=timezone.utc),
             duration=61.0, live=False, short=True, item_key="Youtube:a"),
        Item(url="https://example.com/watch?v=b"),
    ])
    assert Listing.from_json(listing.to_json()) == listing
