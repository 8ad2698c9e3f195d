"""The one Jinja environment of the app and the static report. Autoescaping is on for every template:
provider names, statuses and reasons come from provider events and are text, never markup."""

from __future__ import annotations

from functools import lru_cache

import jinja2

from continuum.web.funders import SUPPRESSED_HINT, quarter_label, year_label


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("continuum.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(quarter_label=quarter_label, year_label=year_label, hint=SUPPRESSED_HINT)
    return env


def render(template: str, **context: object) -> str:
    context.setdefault("nav", True)
    context.setdefault("signed_in_as", None)
    return environment().get_template(template).render(**context)
