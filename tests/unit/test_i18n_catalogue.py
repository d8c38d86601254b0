"""The message catalogue is complete: every sentence of the translated modules has a
translation in each shipped language that keeps its placeholders; a missing or broken one fails
here, naming it (``python -m bots.runtime.i18n_extract check`` says the same)."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from bots.runtime import i18n
from bots.runtime.i18n import DEFAULT, SHIPPED, _, catalogue, ngettext, rendering
from bots.runtime.i18n_extract import Entry, entries, entries_of, problems
from bots.runtime.message import Message, bold


@pytest.mark.parametrize("language", [lang for lang in SHIPPED if lang != DEFAULT])
def test_every_message_is_translated_keeping_its_placeholders(language: str) -> None:
    assert problems(language) == []


def test_the_catalogue_holds_the_runtime_the_help_and_the_translated_features() -> None:
    found = entries()
    assert "Unknown command !{name}. Type !help for the list." in found  # a runtime reply
    assert "Check that the bot is alive" in found  # a command's help, from its declaration
    assert "Basics" in found  # a router's title
    assert len(found) > 30


def _catalogue_with(tmp_path: Path, language: str, translations: dict[typing.Any, typing.Any]) -> None:
    catalog = Catalog(locale=language, domain="affinity")
    for msgid, text in translations.items():
        catalog.add(msgid, text)
    path = tmp_path / language / "LC_MESSAGES" / "affinity.po"
    path.parent.mkdir(parents=True)
    with path.open("wb") as out:
        write_po(out, catalog)


def test_a_missing_or_broken_translation_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wanted = {
        "Hello {name}": Entry("Hello {name}", None, "x.py:1"),
        "Bye {name}": Entry("Bye {name}", None, "x.py:2"),
        "Thanks": Entry("Thanks", None, "x.py:3"),
        "Later {name}": Entry("Later {name}", None, "x.py:4"),
    }
    _catalogue_with(
        tmp_path, "de", {"Hello {name}": "Hallo {nom}", "Thanks": "", "Later {name}": "Bis {name"}
    )
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    found = problems("de", wanted)
    assert any("no translation of 'Bye {name}'" in p for p in found)
    assert any("'Hello {name}' has placeholders ['nom'], the English ['name']" in p for p in found)
    assert any("no translation of 'Thanks'" in p or "empty translation of 'Thanks'" in p for p in found)
    assert any("broken placeholder in the translation of 'Later {name}'" in p for p in found)
    assert problems("fr", wanted)[0].startswith("fr: no catalogue at ")


def test_the_extractor_reads_calls_and_declarations() -> None:
    source = """
@command("x", help="Do the thing")
async def x(): ...
router = Router("core", "Basics")
class F:
    title = "The feature"
said = _("Hello {name}", name=n)
many = ngettext("{n} vote", "{n} votes", k)
not_this = f"plain {x}"
"""
    found = {(e.msgid, e.plural) for e in entries_of(source, "m.py")}
    assert found == {
        ("Do the thing", None),
        ("Basics", None),
        ("The feature", None),
        ("Hello {name}", None),
        ("{n} vote", "{n} votes"),
    }


def test_plural_forms_follow_each_language(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    singular, plural = "{n} member is in the pool.", "{n} members are in the pool."
    forms = ("{n} osoba jest w puli.", "{n} osoby są w puli.", "{n} osób jest w puli.")
    _catalogue_with(tmp_path, "pl", {(singular, plural): forms})
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    catalogue.cache_clear()
    try:
        counted = {n: ngettext(singular, plural, n) for n in (1, 3, 5, 22)}
        with rendering("en"):
            assert (
                str(counted[1]) == "1 member is in the pool."
                and str(counted[3]) == "3 members are in the pool."
            )
        with rendering("pl"):
            polish = {n: str(v) for n, v in counted.items()}
    finally:
        catalogue.cache_clear()
    # One, few (2-4, 22-24) and many (5-21): the three forms of Polish, from its CLDR rule.
    assert polish == {
        1: "1 osoba jest w puli.",
        3: "3 osoby są w puli.",
        5: "5 osób jest w puli.",
        22: "22 osoby są w puli.",
    }


def test_placeholders_may_move_and_hold_spans() -> None:
    msg = Message.of(_("Unknown command !{name}. Type !help for the list.", name="drwa"))
    with rendering("de"):
        assert msg.plain == "Unbekannter Befehl !drwa. Schreib !help für die Liste."
    rich = Message.of(_("I answer here in {language}.", language=bold("<polski>")))
    with rendering("pl"):
        assert rich.html == "<p>Tutaj odpowiadam w języku: <strong>&lt;polski&gt;</strong>.</p>"
    assert rich.plain == "I answer here in <polski>."  # outside a rendering: English
