"""Each measure's definition and caveats, cut from `docs/measures.md` (the one place they are written)
and rendered to HTML for the funder pages. A section is the part under a heading that names the
measure id, down to the next heading of the same or a higher level."""

from __future__ import annotations

import re
from pathlib import Path

from markdown_it import MarkdownIt

_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
# Raw HTML in the Markdown is shown as text, not passed through: the pages never carry foreign markup.
_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")


def sections(path: Path, measure_ids: list[str]) -> dict[str, str]:
    """{measure_id: definition as HTML} for the measures that have a section."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return {}
    found: dict[str, str] = {}
    for measure_id in dict.fromkeys(measure_ids):
        body = _section(lines, measure_id)
        if body:
            found[measure_id] = _markdown.render(body)
    return found


def preamble(path: Path, measure_ids: list[str]) -> str:
    """The doc's general part as HTML: from its first section heading down to the first heading that
    names a measure (how to read a row, rules for every measure), leaving out a last heading whose
    section is the measures themselves."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return ""
    names = [_name_pattern(m) for m in measure_ids]
    headings = [i for i, line in enumerate(lines) if _HEADING.match(line)]
    first_measure = next((i for i in headings if any(n.search(lines[i]) for n in names)), len(lines))
    start = next((i for i in headings if i > 0), first_measure)
    body = lines[start:first_measure]
    while body and (not body[-1].strip() or _HEADING.match(body[-1])):
        body.pop()  # the heading that only introduces the measures
    return _markdown.render("\n".join(body)) if body else ""


def _name_pattern(measure_id: str) -> re.Pattern:
    return re.compile(rf"(?<![a-z0-9_]){re.escape(measure_id)}(?![a-z0-9_])")


def _section(lines: list[str], measure_id: str) -> str:
    name = _name_pattern(measure_id)
    for start, line in enumerate(lines):
        heading = _HEADING.match(line)
        if heading and name.search(heading.group(2)):
            level = len(heading.group(1))
            end = next(
                (i for i in range(start + 1, len(lines)) if _ends_section(lines[i], level)), len(lines)
            )
            return "\n".join(lines[start + 1 : end]).strip()
    return ""


def _ends_section(line: str, level: int) -> bool:
    heading = _HEADING.match(line)
    return bool(heading) and len(heading.group(1)) <= level
