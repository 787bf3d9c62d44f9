"""The Jinja environment of the course's HTML pages (feedback, class report), defined once."""
from __future__ import annotations

from typing import Any

import jinja2

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("dvwcourse", "templates"), autoescape=True, undefined=jinja2.StrictUndefined,
)


def render_page(template: str, **context: Any) -> str:
    """templates/<template> rendered with `context`; every value is HTML-escaped unless marked safe."""
    return _TEMPLATES.get_template(template).render(**context)
