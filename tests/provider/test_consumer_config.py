"""`gorules-tokens:consumers` validation: every bad field named, with the consumer."""

from __future__ import annotations

from pathlib import Path

import pytest

from gorules_tokens.consumer_config import Consumer, ConsumersConfigError, parse_consumers

ENTRIES = ["staging", "production"]


def test_a_valid_list_parses_with_uses_optional(tmp_path: Path) -> None:
    parsed = parse_consumers([
        {"dir": "../shop", "stack": "prod", "uses": ["staging"]},
        {"dir": str(tmp_path / "billing"), "stack": "acme/billing/prod"},
    ], ENTRIES, base=tmp_path)
    assert parsed == [Consumer("../shop", "prod", ("staging",)), Consumer(str(tmp_path / "billing"), "acme/billing/prod")]
    assert parsed[1].entries(ENTRIES) == ("staging", "production")
    assert parsed[0].folder(tmp_path / "tokens") == (tmp_path / "shop").resolve()


def test_absent_or_empty_means_no_consumers() -> None:
    assert parse_consumers(None, ENTRIES) == []
    assert parse_consumers([], ENTRIES) == []


@pytest.mark.parametrize(("raw", "expected"), [
    ([{"stack": "prod"}], "consumers[0]: field 'dir': required"),
    ([{"dir": "../shop"}], "consumers[0] (../shop): field 'stack': required"),
    ([{"dir": " ../shop", "stack": "prod"}], "field 'dir': must be a non-empty string"),
    ([{"dir": "../shop", "stack": "prod", "uses": ["stagign"]}],
     "consumers[0] (../shop:prod): field 'uses': unknown entry 'stagign' (entries of this stack: staging, production)"),
    ([{"dir": "../shop", "stack": "prod", "uses": []}], "field 'uses': must be a non-empty list"),
    ([{"dir": "../shop", "stack": "prod", "uses": "staging"}], "field 'uses': must be a non-empty list"),
    ([{"dir": "../shop", "stack": "prod", "uses": ["staging", "staging"]}], "staging listed more than once"),
    ([{"dir": "../shop", "stack": "prod", "use": ["staging"]}],
     "field 'use': not a known setting (allowed: dir, stack, uses)"),
    ([{"dir": "../shop", "stack": "prod"}, {"dir": "../shop/", "stack": "prod"}],
     "consumers[1] (../shop/:prod): duplicate of consumers[0] (../shop:prod)"),
    (["../shop"], "consumers[0]: must be an object"),
    ({"dir": "../shop"}, "consumers: must be a list"),
])
def test_bad_lists_name_the_consumer_and_the_field(raw, expected: str, tmp_path: Path) -> None:
    with pytest.raises(ConsumersConfigError) as caught:
        parse_consumers(raw, ENTRIES, base=tmp_path)
    assert expected in str(caught.value)


def test_a_duplicate_is_found_by_where_the_folder_resolves(tmp_path: Path) -> None:
    (tmp_path / "shop").mkdir()
    with pytest.raises(ConsumersConfigError, match="duplicate"):
        parse_consumers([{"dir": "shop", "stack": "prod"}, {"dir": str(tmp_path / "shop"), "stack": "prod"}],
                        ENTRIES, base=tmp_path)
    # Same folder, another stack: two consumers.
    assert len(parse_consumers([{"dir": "shop", "stack": "prod"}, {"dir": "shop", "stack": "dev"}],
                               ENTRIES, base=tmp_path)) == 2


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConsumersConfigError) as caught:
        parse_consumers([{"stack": "a"}, {"dir": "b", "stack": "b", "uses": ["nope"]}], ENTRIES)
    assert "consumers[0]" in str(caught.value) and "consumers[1]" in str(caught.value)
