"""The public page as HTML, from the page model (``protocols.calendar_page``), through Jinja2 with
autoescaping on: every title, place and name is escaped by the engine, never by hand.

One self-contained document: no script, no cookie, no font or image from elsewhere, so it reads
the same with JavaScript off, on a phone (one column, large targets) and on paper (a print
style), and tells no third party who opened it. Landmarks (header, main, footer), one h1, a
heading per day and per action; colours meet WCAG AA contrast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jinja2
from babel.dates import format_date, format_skeleton

from bots.runtime.i18n import DEFAULT, _, rendering
from protocols.calendar_page import PageDay, PageItem

_TEMPLATE = """<!doctype html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<meta name="referrer" content="no-referrer">
<title>{{ t.title }}</title>
<link rel="alternate" type="text/calendar" title="{{ t.title }}" href="events.ics">
<style>
:root { color-scheme: light; }
body { margin: 0 auto; max-width: 42rem; padding: 1rem; font: 1.0625rem/1.5 system-ui, sans-serif;
       color: #1a1a1a; background: #ffffff; }
a { color: #0b57d0; }
a:focus { outline: 3px solid #1a1a1a; outline-offset: 2px; }
header { border-bottom: 2px solid #1a1a1a; margin-bottom: 1rem; }
h1 { font-size: 1.6rem; margin: 0.5rem 0; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 0.5rem; padding-bottom: 0.25rem; border-bottom: 1px solid #595959; }
h3 { font-size: 1.05rem; margin: 0 0 0.25rem; }
ul.events { list-style: none; margin: 0; padding: 0; }
li.event { padding: 0.75rem 0; border-bottom: 1px solid #d0d0d0; break-inside: avoid; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0 0.75rem; margin: 0; }
dt { color: #3d3d3d; font-weight: 600; }
dd { margin: 0; }
.subscribe a { display: inline-block; padding: 0.5rem 0; min-height: 44px; }
footer { margin-top: 2rem; color: #3d3d3d; font-size: 0.9rem; }
@media print {
  body { max-width: none; font-size: 11pt; }
  .subscribe { display: none; }
  a { color: #000; text-decoration: none; }
}
</style>
</head>
<body>
<header>
<h1>{{ t.title }}</h1>
<p class="subscribe">{{ t.upcoming }}
<a href="events.ics">{{ t.subscribe }}</a>{% if webcal %} (<a href="{{ webcal }}">webcal</a>){% endif %}</p>
</header>
<main>
{% for day in days %}
<section aria-labelledby="day-{{ loop.index }}">
<h2 id="day-{{ loop.index }}"><time datetime="{{ day.day.isoformat() }}">{{ heading(day) }}</time></h2>
<ul class="events">
{% for item in day.items %}
<li class="event">
<h3>{{ item.title }}</h3>
<dl>
<dt>{{ t.when }}</dt><dd><time datetime="{{ item.iso_start }}">{{ time(item) }}</time> ({{ item.zone }})</dd>
<dt>{{ t.where }}</dt><dd>{{ item.place or t.tba }}</dd>
<dt>{{ t.listed if item.followed else t.held }}</dt><dd>{{ item.holder }}</dd>
</dl>
</li>
{% endfor %}
</ul>
</section>
{% else %}
<p>{{ t.none }}</p>
{% endfor %}
{% if gains %}
<section aria-labelledby="gains">
<h2 id="gains">{{ t.gains }}</h2>
<ul>
{% for category, n in gains.items() %}
<li>{{ category }}: {{ n }}</li>
{% endfor %}
</ul>
<p>{{ t.gains_note }}</p>
</section>
{% endif %}
</main>
<footer>
<p>{{ t.footer }}</p>
</footer>
</body>
</html>
"""

_ENV = jinja2.Environment(
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
)
_PAGE = _ENV.from_string(_TEMPLATE)


def _texts(name: str) -> dict[str, str]:
    """The page's words in the language being rendered (``features.calendar.language``)."""
    texts = {
        "title": _("{name} coalition calendar", name=name),
        "upcoming": _("Upcoming actions."),
        "subscribe": _("Subscribe in your calendar app"),
        "when": _("When"),
        "where": _("Where"),
        "tba": _("To be announced"),
        "listed": _("Listed by"),
        "held": _("Held by"),
        "none": _("No upcoming actions are listed yet."),
        "gains": _("Gains in self-rule, by category"),
        "gains_note": _(
            "What the coalition's member groups have built, counted by kind: new cooperatives, media, "
            "spaces and the like. Not how many people came."
        ),
        "footer": _(
            "Times are given in the zone where each action happens. This page names no one; places kept\n"
            "for participants are shared with them directly."
        ),
    }
    return {k: v.plain() for k, v in texts.items()}


def time_range(item: PageItem, language: str = DEFAULT) -> str:
    """An action's time as the page shows it: 18:00 to 20:00, or from 22:00 to 02:00 on 1 Dec when
    it ends on another day, the day and month in ``language`` (by CLDR: ``1 gru``, ``1. Dez.``)."""
    if language == DEFAULT or item.starts is None:
        return item.time
    text = f"{item.starts:%H:%M}"
    if item.ends is None:
        return text
    if item.ends.date() == item.starts.date():
        return f"{text}–{item.ends:%H:%M}"
    day = format_skeleton("MMMd", item.ends, locale=language)
    return f"{text} – {day} {item.ends:%H:%M}"


def render_page(
    name: str,
    days: Sequence[PageDay],
    webcal: str | None,
    language: str = DEFAULT,
    gains: Mapping[str, int] | None = None,
) -> bytes:
    """The page for a coalition named ``name``, in ``language`` (its day headings by CLDR;
    English keeps ``Monday 30 November 2026``) and its times by :func:`time_range`. ``gains``:
    the coalition's gains counted by category, when its coordination room chose to show them
    (``!gains public on``, bots/gains); category names are command words and stay as typed."""

    def heading(day: PageDay) -> str:
        if language == DEFAULT:
            return day.heading
        return str(format_date(day.day, format="full", locale=language))

    with rendering(language):
        return _PAGE.render(
            name=name,
            days=days,
            webcal=webcal,
            lang=language,
            t=_texts(name),
            heading=heading,
            time=lambda item: time_range(item, language),
            gains=gains,
        ).encode("utf-8")
