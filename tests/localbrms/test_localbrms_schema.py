"""Our stored copy of the regenerate-token response schema stays equal to the OpenAPI excerpt."""

from __future__ import annotations

from typing import Any

import pytest


def test_schema_copy_matches_openapi_excerpt(
    regenerate_schemas: tuple[dict[str, Any], dict[str, Any] | None],
) -> None:
    copy, live = regenerate_schemas
    if live is None:
        pytest.skip("shared/reference is not present; the stored copy is used alone")
    assert copy == live
