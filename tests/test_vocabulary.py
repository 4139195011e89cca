"""Haul's words are defined once (webapp/core/vocabulary.py) and every list that offers them is built from there."""
from __future__ import annotations

import ast
from pathlib import Path

from webapp.core import vocabulary
from webapp.core.vocabulary import AUTO, ENGINES, PRESET_FORMATS, PRESETS, SOURCES, STATUSES, TOOLS
from webapp.services.admin import runtime_settings
from webapp.settings.forms import ENGINE_LABELS, PRESET_LABELS

ROOT = Path(__file__).resolve().parent.parent


def test_the_vocabulary_imports_nothing():
    """The engines take their words from it too, and they know nothing of Flask or the database."""
    tree = ast.parse((ROOT / "webapp" / "core" / "vocabulary.py").read_text())
    assert not [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]


def test_the_lists_hold_distinct_words():
    for words in (STATUSES, SOURCES, ENGINES, PRESETS, vocabulary.TRUSTS):
        assert len(set(words)) == len(words), words
    assert set(TOOLS) < set(ENGINES) and AUTO not in ENGINES
    assert PRESETS == tuple(PRESET_FORMATS)


def test_the_settings_form_labels_every_choice_in_the_settings_order():
    assert tuple(ENGINE_LABELS) == runtime_settings.ENGINE_CHOICES == (AUTO, *TOOLS)
    assert tuple(PRESET_LABELS) == PRESETS


def test_the_openapi_document_offers_the_same_words(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert schemas["QueueSubmit"]["properties"]["engine"]["enum"] == [AUTO, *ENGINES]
    assert schemas["QueueSubmit"]["properties"]["preset"]["enum"] == ["default", *PRESETS, None]
    assert schemas["SettingsPatch"]["properties"]["default_engine"]["enum"] == [AUTO, *TOOLS, None]
    assert schemas["SettingsPatch"]["properties"]["default_preset"]["enum"] == [*PRESETS, None]
