"""diff(): old OUTPUTS vs new inputs; replace / update / silent, rotation due."""

from datetime import timedelta

import pytest
from pulumi.output import UNKNOWN  # what 3.272 hands to check/diff in preview
from pulumi.runtime.rpc import UNKNOWN as WIRE_UNKNOWN

from gorules_tokens.provider import EnvironmentTokenProvider

P = "123e4567-e89b-12d3-a456-426614174000"
E = "223e4567-e89b-12d3-a456-426614174000"
E2 = "323e4567-e89b-12d3-a456-426614174000"


@pytest.fixture
def provider(clock):
    return EnvironmentTokenProvider(clock=clock)


def outputs(**over):
    outs = {
        "project_id": P, "environment_id": E, "keepers": {"k": "1"}, "revoke_on_delete": False,
        "adopt_existing": False, "redeploy": True, "access_token": "tok_live_123456", "fingerprint": "sha256:x",
        "rotated_at": "2025-01-01T12:00:00Z", "environment_type": "brms", "redeploy_status": "not_needed",
        "token_source": "regenerated", "__provider": "OLD",
    }
    outs.update(over)
    return {k: v for k, v in outs.items() if v is not None}


def inputs(**over):
    news = {"project_id": P, "environment_id": E, "keepers": {"k": "1"}, "revoke_on_delete": False,
            "adopt_existing": False, "redeploy": True, "__provider": "NEW"}
    news.update(over)
    return {k: v for k, v in news.items() if v is not None}


def test_no_change_is_silent_even_if_provider_pickle_differs(provider):
    result = provider.diff("id", outputs(), inputs())
    assert result.changes is False and not result.replaces


def test_defaults_equal_missing(provider):
    olds = outputs(redeploy=None, revoke_on_delete=None, adopt_existing=None, keepers=None)
    news = inputs(keepers={})
    assert provider.diff("id", olds, news).changes is False


def compact_outputs(**over):
    """Outputs as create() writes them now: no ids (they are in the resource id), no defaults."""
    return {k: v for k, v in outputs(**over).items()
            if k not in ("project_id", "environment_id", "revoke_on_delete", "adopt_existing", "redeploy")}


def test_compact_state_no_change(provider):
    assert provider.diff(f"{P}/{E}", compact_outputs(), inputs()).changes is False
    assert provider.diff(f"{P}/{E.upper()}", compact_outputs(), {"project_id": P, "environment_id": E,
                                                                 "keepers": {"k": "1"}}).changes is False


@pytest.mark.parametrize("change, key", [({"environment_id": E2}, "environment_id"),
                                         ({"project_id": "423e4567-e89b-12d3-a456-426614174000"}, "project_id"),
                                         ({"redeploy": False}, "redeploy")])
def test_compact_state_changes_read_ids_from_the_resource_id(provider, change, key):
    result = provider.diff(f"{P}/{E}", compact_outputs(), inputs(**change))
    assert result.changes is True
    assert result.replaces == ([key] if key.endswith("_id") else [])


def test_state_written_by_earlier_versions_needs_no_migration(provider):
    # Outputs with every input spelled out, against the compact inputs check() returns now.
    olds = outputs(rotate_after=None, api_url=None)
    news = {"project_id": P, "environment_id": E, "keepers": {"k": "1"}, "__provider": "NEW"}
    assert provider.diff(f"{P}/{E}", olds, news).changes is False
    assert provider.diff("legacy-id-without-slash", olds, news).changes is False


def test_state_without_ids_anywhere_is_an_error_not_a_silent_replace(provider):
    from gorules_tokens.errors import ConfigError

    with pytest.raises(ConfigError, match="no project_id/environment_id"):
        provider.diff("", compact_outputs(), inputs())


@pytest.mark.parametrize(
    "change, key",
    [
        ({"project_id": "423e4567-e89b-12d3-a456-426614174000"}, "project_id"),
        ({"environment_id": E2}, "environment_id"),
        ({"keepers": {"k": "2"}}, "keepers"),
        ({"keepers": {}}, "keepers"),
        ({"keepers": {"k": "1", "new": "x"}}, "keepers"),
        ({"api_url": "https://other.example.com"}, "api_url"),
    ],
)
def test_replacing_changes(provider, change, key):
    result = provider.diff("id", outputs(), inputs(**change))
    assert result.changes is True and result.replaces == [key] and result.delete_before_replace is False


def test_id_case_and_url_spelling_are_not_changes(provider):
    assert provider.diff("id", outputs(), inputs(environment_id=E.upper())).changes is False
    olds = outputs(api_url="https://b.example.com")
    assert provider.diff("id", olds, inputs(api_url="https://b.example.com/api/")).changes is False


@pytest.mark.parametrize(
    "change",
    [{"revoke_on_delete": True}, {"redeploy": False}, {"rotate_after": "30d"}],
)
def test_updating_changes(provider, change):
    result = provider.diff("id", outputs(), inputs(**change))
    assert result.changes is True and result.replaces == []


@pytest.mark.parametrize("olds_adopt, news_adopt", [(False, True), (True, False), (True, None)])
def test_adopt_existing_only_matters_to_the_first_create(provider, olds_adopt, news_adopt):
    # Journey 1: adoption is one-shot, so flipping it on an existing resource is no step at all.
    result = provider.diff("id", outputs(adopt_existing=olds_adopt), inputs(adopt_existing=news_adopt))
    assert result.changes is False and result.replaces == []


def test_equivalent_rotate_after_spelling_is_silent(provider):
    assert provider.diff("id", outputs(rotate_after="1d"), inputs(rotate_after="24h")).changes is False


def test_rotation_due_replaces(provider, clock):
    olds = outputs(rotate_after="1d")
    clock.now += timedelta(hours=23, minutes=59)
    assert provider.diff("id", olds, inputs(rotate_after="1d")).changes is False
    clock.now += timedelta(minutes=1)
    result = provider.diff("id", olds, inputs(rotate_after="1d"))
    assert result.replaces == ["rotate_after"]


def test_rotation_due_uses_new_rotate_after(provider, clock):
    clock.now += timedelta(hours=2)
    result = provider.diff("id", outputs(rotate_after="30d"), inputs(rotate_after="1h"))
    assert result.replaces == ["rotate_after"]
    # Lengthening the period is just an update.
    result = provider.diff("id", outputs(rotate_after="1h"), inputs(rotate_after="30d"))
    assert result.changes is True and result.replaces == []


@pytest.mark.parametrize("key", ["project_id", "environment_id", "api_url", "keepers"])
def test_unknown_replacing_field_replaces(provider, key):
    result = provider.diff("id", outputs(), inputs(**{key: UNKNOWN}))
    assert key in result.replaces


def test_unknown_keeper_value_replaces(provider):
    assert provider.diff("id", outputs(), inputs(keepers={"k": UNKNOWN})).replaces == ["keepers"]


def test_unknown_update_field_is_update(provider):
    result = provider.diff("id", outputs(), inputs(redeploy=UNKNOWN, rotate_after=UNKNOWN))
    assert result.changes is True and result.replaces == []


def test_missing_token_in_state_replaces(provider):
    assert "access_token" in provider.diff("id", outputs(access_token=None), inputs()).replaces


@pytest.mark.parametrize("status", ["failed:500", "failed:transport", "failed:429", "skipped"])
def test_a_redeploy_that_may_heal_triggers_an_update(provider, status):
    olds = outputs(redeploy_status=status)
    assert provider.diff("id", olds, inputs()).changes is True
    assert provider.diff("id", olds, inputs(redeploy=False)).changes is True  # redeploy flag changed
    assert provider.diff("id", outputs(redeploy_status=status, redeploy=False),
                         inputs(redeploy=False)).changes is False


@pytest.mark.parametrize("status", ["failed:403", "failed:401", "failed:404"])
def test_a_refused_redeploy_is_no_update_by_itself(provider, status):
    """The same PAT gets the same answer: no update on every `up` (issue 19 item 5); with no
    PAT configured at preview, nobody can tell that it changed."""
    assert provider.diff("id", outputs(redeploy_status=status), inputs()).changes is False


def test_diff_needs_no_credentials_or_network(clock, monkeypatch):
    """Not one request, not even an HTTP client: the transport fails any request, and the
    process state never builds its pool."""
    import httpx

    from gorules_tokens.process import ProcessState

    def no_network(request: httpx.Request) -> httpx.Response:
        pytest.fail(f"diff must not talk to the BRMS ({request.method} {request.url})")

    state = ProcessState(transport=httpx.MockTransport(no_network))
    provider = EnvironmentTokenProvider(state=state, clock=clock)
    monkeypatch.setenv("GORULES_URL", "https://brms.example.com")
    monkeypatch.setenv("GORULES_TOKEN", "pat_" + "d" * 32)
    for olds, news in ((outputs(), inputs(keepers={"k": "9"})), (outputs(redeploy_status="failed:403"), inputs()),
                       (outputs(redeploy_status="failed:500"), inputs()), (outputs(), inputs(rotate_after="1s"))):
        provider.diff("id", olds, news)
    assert state._pool is None


def test_wire_sentinel_string_also_counts_as_unknown(provider):
    assert provider.diff("id", outputs(), inputs(environment_id=WIRE_UNKNOWN)).replaces == ["environment_id"]


def test_api_url_matching_effective_default_is_update_not_replace(provider, monkeypatch):
    monkeypatch.setenv("GORULES_URL", "https://brms.example.com/api")
    result = provider.diff("id", outputs(), inputs(api_url="https://brms.example.com"))
    assert result.changes is True and result.replaces == []
    result = provider.diff("id", outputs(api_url="https://brms.example.com/"), inputs())
    assert result.changes is True and result.replaces == []
    assert provider.diff("id", outputs(), inputs(api_url="https://elsewhere.example.com")).replaces == ["api_url"]
