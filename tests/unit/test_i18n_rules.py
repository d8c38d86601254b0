"""A rule's refusal in the room's language: a ``RuleError`` raised with its English sentence and
values is looked up in the catalogue when it is shown; one raised with finished text says it as
it is; the extractor reads the rules' sentences from protocol modules, not Python's own errors."""

from __future__ import annotations

from bots.runtime.i18n import rendering
from bots.runtime.i18n_extract import entries_of
from bots.runtime.i18n_rules import said, said_clause
from bots.runtime.message import Message
from protocols.dayofaction.slots import SlotError
from protocols.errors import RuleError


def test_a_rule_raised_with_its_sentence_and_values_is_said_in_the_rooms_language() -> None:
    exc = SlotError("There is no slot '{text}'. Slots: {known}.", text="{cook}", known="marshal, medic")
    assert str(exc) == "There is no slot '{cook}'. Slots: marshal, medic."  # the English, filled in
    shown = Message.of(said(exc))
    with rendering("pl"):
        assert shown.plain == "Nie ma miejsca '{cook}'. Miejsca: marshal, medic."
    with rendering("de"):
        assert Message.of(said_clause(exc)).plain == "Es gibt keinen Platz '{cook}'. Plätze: marshal, medic"
    assert shown.plain == str(exc)  # outside a rendering: English


def test_a_rule_without_values_is_looked_up_and_finished_text_stays_as_it_is() -> None:
    plain = RuleError("A local note needs some text.")
    finished = RuleError("A {weird} sentence nobody translated")  # braces, no values: not a template
    with rendering("es"):
        assert Message.of(said(plain)).plain == "Una nota local necesita algo de texto."
        assert Message.of(said(finished)).plain == "A {weird} sentence nobody translated"
    assert said(ValueError("not a rule")) == "not a rule"


def test_the_extractor_reads_rule_sentences_from_protocol_modules_only() -> None:
    source = """
raise SlotError("There is no slot '{text}'.", text=t)
raise ValueError("an operator's mistake, never shown in a room")
raise SlotError(f"finished {text}")
"""
    assert [e.msgid for e in entries_of(source, "protocols/x.py")] == ["There is no slot '{text}'."]
    assert list(entries_of(source, "bots/x.py")) == []
