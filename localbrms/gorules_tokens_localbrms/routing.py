"""Map a request to its route template (``/api/projects/{projectId}/...``) before routing.

Metrics count by template and fault rules match on it, so both need it in middleware,
i.e. before the router has run. We compile the templates ourselves (with Starlette's
public ``compile_path``) rather than rely on FastAPI's internal route objects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.routing import compile_path

UNMATCHED = "(unmatched)"
TEMPLATE_KEY = "localbrms.route"
ADMIN_PREFIX = "/_localbrms"
HEALTH_PATH = "/api/health"
_CONVERTER = re.compile(r"\{(\w+):\w+\}")


@dataclass(frozen=True)
class _Template:
    path: str
    regex: re.Pattern[str]
    methods: frozenset[str]


class RouteTable:
    """Resolves a path + method to the template of the route that would serve it."""

    def __init__(self, routes: Iterable[Any]) -> None:
        self._templates = []
        for route in routes:
            path = getattr(route, "path", None)
            if path is None:
                continue
            regex, _, _ = compile_path(path)
            shown = _CONVERTER.sub(r"{\1}", path)  # "{key:path}" is shown as "{key}"
            self._templates.append(_Template(shown, regex, frozenset(getattr(route, "methods", None) or ())))

    @property
    def templates(self) -> list[str]:
        return [t.path for t in self._templates]

    def resolve(self, method: str, path: str) -> str:
        """The matching template; a method mismatch still names the path's template."""
        partial: str | None = None
        for template in self._templates:
            if template.regex.match(path):
                if not template.methods or method in template.methods:
                    return template.path
                partial = partial or template.path
        return partial or UNMATCHED


def is_admin_path(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


def template_of(scope: MutableMapping[str, Any]) -> str:
    return str((scope.get("extensions") or {}).get(TEMPLATE_KEY, UNMATCHED))
