"""The message ids of the catalogue, read from the source: every ``_("...")`` and
``ngettext("...", "...", n)``, and the English texts the declarations carry (a command's
``help=``, a feature's ``title``, a router's title), which ``!help`` shows through the catalogue.

    python -m bots.runtime.i18n_extract         # update bots/locale/*/LC_MESSAGES/affinity.po
    python -m bots.runtime.i18n_extract check   # what is missing or broken (also a unit test)

Only the modules in :data:`TRANSLATED` are read: their every sentence must be translated into
each shipped language (tests/unit/test_i18n_catalogue.py). A feature outside it speaks English
(its help too) until its strings are wrapped and translated and it is added here.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from bots.runtime import i18n
from bots.runtime.i18n import DEFAULT, DOMAIN, SHIPPED, placeholders
from bots.runtime.i18n_rules import BUILTIN_ERRORS

ROOT = Path(__file__).resolve().parents[2]
# What is translated (paths under the repository root): the runtime's own words, the core
# commands, and the features whose strings go through the catalogue.
TRANSLATED: tuple[str, ...] = (
    "bots/core.py",
    "bots/runtime",
    "bots/mirror",
    "protocols/mirror.py",
    "protocols/mirror_draft.py",
    "bots/ghostchair",
    "protocols/ghostchair.py",
    "protocols/gathering.py",
    "protocols/gathering_recurring.py",
    "protocols/schedule.py",
    "protocols/timespec.py",
    "protocols/recurrence_grammar.py",
    "protocols/recurrence.py",
    "protocols/reshuffle.py",
    "bots/lottery",
    "protocols/lottery_room.py",
    "protocols/lottery.py",
    "protocols/lottery_stream.py",
    "protocols/mandates.py",
    "protocols/groups.py",
    "bots/care",
    "protocols/rota_state.py",
    "protocols/rota_swaps.py",
    "protocols/rota_turns.py",
    "bots/gains",
    "protocols/gains.py",
    "bots/skills",
    "protocols/skills.py",
    "bots/slots",
    "protocols/dayofaction/slots.py",
    "protocols/dayofaction/slot_poll.py",
    "bots/intake",
    "protocols/dayofaction/intake.py",
    "bots/rides",
    "protocols/dayofaction/rides.py",
    "bots/dayofaction",
    "protocols/dayofaction/autonomy.py",
    "protocols/dayofaction/drills.py",
    "protocols/dayofaction/liaisons.py",
    "bots/calendar",
    "protocols/calendar_follow.py",
    "protocols/calendar_feed.py",
    "protocols/calendar_events.py",
    "bots/herald/space.py",
    "bots/herald/render.py",
    "bots/herald/render_phases.py",
    "bots/herald/protocols.py",
    "bots/herald/delivery.py",
    "protocols/herald/plan.py",
    "bots/herald/render_heralds.py",
    "bots/herald/heralds.py",
    "bots/herald/escalation.py",
    "bots/herald/dayofaction_port.py",
    "bots/herald/base.py",
    "bots/herald/feature.py",
    "bots/herald/grammar.py",
    "bots/herald/coalitions.py",
    "bots/herald/room_commands.py",
    "protocols/herald/local.py",
    "protocols/herald/consent.py",
)


@dataclass(frozen=True)
class Entry:
    msgid: str
    plural: str | None
    where: str  # path:line


def _string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _name(func: ast.AST) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def entries_of(source: str, path: str) -> Iterator[Entry]:
    """The message ids in one module's source."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = _name(node.func)
            first = _string(node.args[0]) if node.args else None
            if name == "_" and first is not None:
                yield Entry(first, None, f"{path}:{node.lineno}")
            elif name == "ngettext" and first is not None and len(node.args) > 1:
                plural = _string(node.args[1])
                if plural is not None:
                    yield Entry(first, plural, f"{path}:{node.lineno}")
            elif name == "command":
                for keyword in node.keywords:
                    text = _string(keyword.value) if keyword.arg == "help" else None
                    if text:
                        yield Entry(text, None, f"{path}:{node.lineno}")
            elif name.endswith("Error") and path.startswith("protocols") and first is not None:
                if name not in BUILTIN_ERRORS:  # a rule's refusal (bots/runtime/i18n_rules.py)
                    yield Entry(first, None, f"{path}:{node.lineno}")
            elif name == "Router" and len(node.args) > 1 and (title := _string(node.args[1])):
                yield Entry(title, None, f"{path}:{node.lineno}")
        elif isinstance(node, ast.ClassDef):
            for statement in node.body:
                if not isinstance(statement, ast.Assign):
                    continue
                if any(isinstance(t, ast.Name) and t.id == "title" for t in statement.targets):
                    text = _string(statement.value)
                    if text:
                        yield Entry(text, None, f"{path}:{statement.lineno}")


def source_files() -> list[Path]:
    files: list[Path] = []
    for scope in TRANSLATED:
        path = ROOT / scope
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


def entries() -> dict[str, Entry]:
    """Every message id of the translated modules (the first place each is written)."""
    found: dict[str, Entry] = {}
    for file in source_files():
        for entry in entries_of(file.read_text(encoding="utf-8"), str(file.relative_to(ROOT))):
            found.setdefault(entry.msgid, entry)
    return found


def po_path(language: str) -> Path:
    return i18n.LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read(language: str) -> Catalog:
    with po_path(language).open("rb") as source:
        return read_po(source, locale=language, domain=DOMAIN)


def problems(language: str, wanted: dict[str, Entry] | None = None) -> list[str]:
    """Why ``language``'s catalogue is not complete: a missing, fuzzy or empty translation, or
    one whose placeholders differ from the English (each named with where it is used)."""
    wanted = entries() if wanted is None else wanted
    if not po_path(language).exists():
        return [f"{language}: no catalogue at {po_path(language)}"]
    catalog = read(language)
    found: list[str] = []
    forms = catalog.num_plurals
    for msgid, entry in sorted(wanted.items()):
        message = catalog.get(msgid)
        if message is None or message.fuzzy:
            found.append(f"{language}: no translation of {msgid!r} ({entry.where})")
            continue
        strings = list(message.string) if isinstance(message.string, tuple | list) else [message.string]
        if entry.plural is not None and len(strings) != forms:
            found.append(f"{language}: {msgid!r} needs {forms} plural forms ({entry.where})")
            continue
        english = placeholders(msgid) | (placeholders(entry.plural) if entry.plural else set())
        for text in strings:
            if not text:
                found.append(f"{language}: empty translation of {msgid!r} ({entry.where})")
                break
            try:
                theirs = placeholders(text)
            except ValueError as exc:
                found.append(f"{language}: broken placeholder in the translation of {msgid!r}: {exc}")
                break
            if theirs - english or (entry.plural is None and theirs != english):
                found.append(
                    f"{language}: the translation of {msgid!r} has placeholders {sorted(theirs)},"
                    f" the English {sorted(english)} ({entry.where})"
                )
                break
    return found


def update() -> None:
    """Add the new message ids to every catalogue (untranslated), mark the gone ones obsolete."""
    template = Catalog(domain=DOMAIN, project="affinity")
    for msgid, entry in entries().items():
        source, line = entry.where.rsplit(":", 1)
        template.add((msgid, entry.plural) if entry.plural else msgid, locations=[(source, int(line))])
    for language in SHIPPED:
        if language == DEFAULT:
            continue
        path = po_path(language)
        catalog = read(language) if path.exists() else Catalog(locale=language, domain=DOMAIN)
        catalog.update(template, no_fuzzy_matching=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            write_po(out, catalog, width=100, omit_header=False, ignore_obsolete=True)


def main(argv: list[str]) -> int:
    if argv[1:] == ["check"]:
        found = [p for language in SHIPPED if language != DEFAULT for p in problems(language)]
        print("\n".join(found) or "every message is translated")
        return 1 if found else 0
    update()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
