"""Haul's words are defined once (webapp/core/vocabulary.py) and every list that offers them is built from there."""
from __future__ import annotations

import ast
from pathlib import Path

from webapp.core import vocabulary
from webapp.core.presets import BUILT_IN
from webapp.core.vocabulary import AUTO, ENGINES, SOURCES, STATUSES, TOOLS
from webapp.services.admin import runtime_settings
from webapp.settings.forms import ENGINE_LABELS

ROOT = Path(__file__).resolve().parent.parent


def test_the_vocabulary_imports_nothing():
    """The engines take their words from it too, and they know nothing of Flask or the database."""
    tree = ast.parse((ROOT / "webapp" / "core" / "vocabulary.py").read_text())
    assert not [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]


def test_the_lists_hold_distinct_words():
    for words in (STATUSES, SOURCES, ENGINES, vocabulary.TRUSTS):
        assert len(set(words)) == len(words), words
    assert set(TOOLS) < set(ENGINES) and AUTO not in ENGINES


def test_the_built_in_presets_are_named_by_the_vocabulary():
    """The names every install starts with (the rows are seeded from webapp/core/presets.BUILT_IN)."""
    assert [spec.name for spec in BUILT_IN] == [vocabulary.BEST, vocabulary.P1080, vocabulary.P720, vocabulary.AUDIO]


def test_the_settings_form_labels_every_choice_in_the_settings_order():
    assert tuple(ENGINE_LABELS) == runtime_settings.ENGINE_CHOICES == (AUTO, *TOOLS)


def test_the_preset_choices_are_the_rows(app):
    """Presets are rows admins edit: the forms and the settings' limits list them, not a fixed word list."""
    from webapp.services.library import presets
    from webapp.settings.forms import DownloadsForm

    with app.test_request_context():
        form = DownloadsForm(formdata=None, meta={"csrf": False})
    names = presets.names()
    assert names == ["best", "1080p", "720p", "audio"]
    assert [choice.value for choice in form.default_preset.choices] == names
    assert runtime_settings.limits()["default_preset"]["choices"] == names


def test_the_openapi_document_offers_the_same_words(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert schemas["QueueSubmit"]["properties"]["engine"]["enum"] == [AUTO, *ENGINES]
    assert schemas["SettingsPatch"]["properties"]["default_engine"]["enum"] == [AUTO, *TOOLS, None]
    # Presets are rows: no fixed enum, the description points at /api/v1/presets.
    for schema, key in (("QueueSubmit", "preset"), ("SettingsPatch", "default_preset"),
                        ("SubscriptionFields", "preset"), ("InvitePatch", "preset")):
        assert "enum" not in schemas[schema]["properties"][key], schema
        assert "/api/v1/presets" in schemas[schema]["properties"][key]["description"], schema
