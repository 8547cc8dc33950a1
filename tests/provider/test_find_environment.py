"""find_environment: canonical id match, live items only, and a refresh's N lookups in one list
of N items parse each listed id once (issue 18), not N times."""

from __future__ import annotations

import uuid

import pytest

from gorules_tokens import fields
from gorules_tokens.deploys import find_environment
from gorules_tokens.models import EnvironmentListItem


def item(env_id: str, deleted: bool = False) -> EnvironmentListItem:
    return EnvironmentListItem.model_validate(
        {"id": env_id, "name": "n", "type": "brms", "key": "k", **({"deletedAt": "2026-01-01T00:00:00Z"} if deleted else {})}
    )


def test_ids_are_compared_canonically_and_deleted_items_are_skipped() -> None:
    live = str(uuid.uuid4())
    items = [item(live.upper(), deleted=True), item(live.upper())]
    assert find_environment(items, live) is items[1]
    assert find_environment(items, live.upper()) is items[1]
    assert find_environment(items, str(uuid.uuid4())) is None
    assert find_environment([item("not-a-uuid")], "not-a-uuid") is not None  # compared as written


def test_n_lookups_in_a_list_of_n_parse_each_id_once(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 300
    ids = [str(uuid.uuid4()) for _ in range(n)]  # fresh, so no earlier test parsed them
    items = [item(i) for i in ids]
    parses = 0
    real = uuid.UUID

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal parses
        parses += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(fields.uuid, "UUID", counting)
    for env_id in ids:
        assert find_environment(items, env_id).id == env_id  # type: ignore[union-attr]
    # One parse per lookup (the wanted id) and one per listed id, not one per pair (n² = 90,000).
    assert parses <= 2 * n, parses
