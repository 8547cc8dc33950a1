"""Which consumers are current, stale or unknown, and which ones a rollout runs."""

from __future__ import annotations

from datetime import datetime, timezone

from gorules_tokens.consumer_config import Consumer
from gorules_tokens.stack_outputs import consumer_fingerprints, token_views
from gorules_tokens.rollout.status import CURRENT, STALE, UNKNOWN, assess

OUTPUTS = {
    "accessTokens": "[secret]",
    "fingerprints": {"staging": "sha256:aaaa", "production": "sha256:bbbb"},
    "rotatedAt": {"staging": "2026-12-01T00:00:00Z", "production": "2026-11-01T00:00:00Z"},
    "nextRotationAt": {"staging": None, "production": "2026-12-01T00:00:00Z"},
}
TOKENS = token_views(OUTPUTS)


def test_token_views_read_the_masked_outputs_and_tell_what_is_due() -> None:
    assert set(TOKENS) == {"staging", "production"}
    # An entry whose create failed under --continue-on-error holds the engine's unknown placeholder.
    failed = {**OUTPUTS, "fingerprints": {**OUTPUTS["fingerprints"], "ghost": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"}}
    assert set(token_views(failed)) == {"staging", "production"}
    now = datetime(2026, 12, 2, tzinfo=timezone.utc)
    assert TOKENS["production"].due(now) and not TOKENS["staging"].due(now)


def test_per_entry_status_and_the_worst_one_wins() -> None:
    shop = Consumer("../shop", "prod")  # uses every entry
    state = assess(shop, {"staging": "sha256:aaaa", "production": "sha256:old"}, TOKENS)
    assert dict(state.entries) == {"staging": CURRENT, "production": STALE}
    assert state.status == STALE
    partial = assess(shop, {"staging": "sha256:aaaa"}, TOKENS)
    assert (partial.status, partial.unknown) == (UNKNOWN, ("production",))
    assert assess(Consumer("../shop", "prod", ("staging",)), {"staging": "sha256:aaaa"}, TOKENS).status == CURRENT


def test_only_fingerprints_count_as_exported() -> None:
    exported = consumer_fingerprints({"gorulesTokenFingerprints": {"staging": "[secret]", "x": 3, "p": "sha256:bbbb"}})
    assert exported == {"p": "sha256:bbbb"}
    assert consumer_fingerprints({"gorulesTokenFingerprints": "sha256:aaaa"}) is None
