import pytest

from gorules_tokens.config import (
    CONFIG_TOKEN_KEY,
    CONFIG_URL_KEY,
    ConfigError,
    HttpSettings,
    normalize_base_url,
)
from gorules_tokens.instances import ProviderConfig
from gorules_tokens.errors import scrub
from gorules_tokens.provider import EnvironmentTokenProvider
from pulumi.dynamic import Config, ConfigureRequest


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://brms.example.com", "https://brms.example.com"),
        ("https://brms.example.com/", "https://brms.example.com"),
        ("https://brms.example.com/api", "https://brms.example.com"),
        ("https://brms.example.com/api/", "https://brms.example.com"),
        ("https://BRMS.example.com:8443/prefix/api", "https://brms.example.com:8443/prefix"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.3.4.5/api", "http://127.3.4.5"),
        ("http://localhost:9000/", "http://localhost:9000"),
        ("http://[::1]:9000", "http://[::1]:9000"),
        ("https://brms.example.com/apis", "https://brms.example.com/apis"),
    ],
)
def test_normalize_accepts(url, expected):
    assert normalize_base_url(url) == expected


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("http://brms.example.com", "https"),
        ("http://10.0.0.1", "https"),
        ("ftp://brms.example.com", "https"),
        ("brms.example.com", "https"),
        ("https://user:pw@brms.example.com", "user info"),
        ("https://user@brms.example.com", "user info"),
        ("https://brms.example.com/?x=1", "query"),
        ("https://brms.example.com/#frag", "fragment"),
        ("https://", "no host"),
        (" https://brms.example.com", "whitespace"),
        ("https://brms.example.com:99999", "malformed"),
        ("", "non-empty"),
    ],
)
def test_normalize_rejects(url, fragment):
    with pytest.raises(ConfigError, match=fragment):
        normalize_base_url(url)


def test_user_info_error_does_not_echo_password():
    with pytest.raises(ConfigError) as info:
        normalize_base_url("https://user:hunter2secret@brms.example.com")
    assert "hunter2secret" not in str(info.value)


def test_resolve_precedence():
    env = {"GORULES_URL": "https://env.example.com", "GORULES_TOKEN": "envpat123"}
    assert ProviderConfig().resolve(environ=env).base_url == "https://env.example.com"
    assert ProviderConfig().resolve(environ=env).pat == "envpat123"
    cfg = ProviderConfig(api_url="https://cfg.example.com/api", token="cfgpat123")
    creds = cfg.resolve(environ=env)
    assert (creds.base_url, creds.pat) == ("https://cfg.example.com", "cfgpat123")
    # A resource's api_url only selects a configured BRMS (issue 13): the default's URL, respelled,
    # gets the default PAT; any other URL gets no PAT at all.
    assert cfg.resolve({"api_url": "https://CFG.example.com/"}, environ=env).pat == "cfgpat123"
    with pytest.raises(ConfigError, match="api_url: https://override.example.com is not the URL"):
        cfg.resolve({"api_url": "https://override.example.com"}, environ=env)


def test_missing_pat_names_both_sources():
    with pytest.raises(ConfigError) as info:
        ProviderConfig(api_url="https://x.example.com").resolve(environ={})
    assert "gorules:token" in str(info.value) and "GORULES_TOKEN" in str(info.value)


def test_missing_url_names_both_sources():
    with pytest.raises(ConfigError) as info:
        ProviderConfig(token="abcdefgh").resolve(environ={})
    assert "gorules:apiUrl" in str(info.value) and "GORULES_URL" in str(info.value)


def test_bad_url_names_source():
    with pytest.raises(ConfigError, match="GORULES_URL"):
        ProviderConfig().resolve(environ={"GORULES_URL": "http://evil.example.com", "GORULES_TOKEN": "x" * 10})


def test_pat_whitespace_stripped_but_inner_whitespace_rejected():
    env = {"GORULES_URL": "https://x.example.com", "GORULES_TOKEN": "goodpat123\n"}
    assert ProviderConfig().resolve(environ=env).pat == "goodpat123"
    with pytest.raises(ConfigError) as info:
        ProviderConfig().resolve(environ={**env, "GORULES_TOKEN": "bad pat value"})
    assert "bad pat value" not in str(info.value)


def test_credentials_repr_hides_pat_and_pat_is_scrubbed():
    creds = ProviderConfig(api_url="https://x.example.com", token="verysecretpat").resolve(environ={})
    assert "verysecretpat" not in repr(creds)
    assert "verysecretpat" not in repr(ProviderConfig(token="verysecretpat"))
    assert scrub("oops verysecretpat leaked") == "oops [redacted] leaked"


def test_configure_reads_namespaced_stack_config(monkeypatch):
    provider = EnvironmentTokenProvider()
    raw = {"gorules:apiUrl": "https://stack.example.com", "gorules:token": "stackpat123", "proj:other": "x"}
    provider.configure(ConfigureRequest(Config(raw_config=raw, project_name="proj")))
    creds = provider._config.resolve(environ={})
    assert creds.base_url == "https://stack.example.com" and creds.pat == "stackpat123"
    assert (CONFIG_URL_KEY, CONFIG_TOKEN_KEY) == ("gorules:apiUrl", "gorules:token")


def test_configure_with_empty_config_never_raises():
    provider = EnvironmentTokenProvider()
    provider.configure(ConfigureRequest(Config(raw_config={}, project_name="proj")))
    with pytest.raises(ConfigError):
        provider._config.resolve(environ={})


def test_http_settings_from_env():
    assert HttpSettings.from_env({}) == HttpSettings()
    s = HttpSettings.from_env({"GORULES_HTTP_TIMEOUT": "2.5", "GORULES_RETRY_ATTEMPTS": "2", "GORULES_RETRY_DEADLINE": "9"})
    assert (s.read_timeout, s.max_attempts, s.deadline) == (2.5, 2, 9.0)
    for bad in ({"GORULES_HTTP_TIMEOUT": "0"}, {"GORULES_HTTP_TIMEOUT": "abc"}, {"GORULES_RETRY_ATTEMPTS": "0"},
                {"GORULES_RETRY_DEADLINE": "nan"}, {"GORULES_RETRY_DEADLINE": "inf"}):
        with pytest.raises(ConfigError):
            HttpSettings.from_env(bad)


def test_pat_must_be_printable_ascii():
    for bad in ("pat\u2013dash1234", "pat\x00nul12345"):
        with pytest.raises(ConfigError, match="printable ASCII") as info:
            ProviderConfig(api_url="https://x.example.com", token=bad).resolve(environ={})
        assert bad not in str(info.value)


def test_the_url_in_effect_never_raises():
    assert ProviderConfig().brms_url_for({}, {}) is None
    assert ProviderConfig().brms_url_for({}, {"GORULES_URL": "http://bad.example.com"}) is None
    assert ProviderConfig(api_url="https://a.example.com/api").brms_url_for({}, {}) == "https://a.example.com"


def test_process_state_takes_http_tuning_from_env(monkeypatch):
    from gorules_tokens.process import ProcessState

    monkeypatch.setenv("GORULES_RETRY_ATTEMPTS", "2")
    monkeypatch.setenv("GORULES_RETRY_DEADLINE", "7")
    monkeypatch.setenv("GORULES_HTTP_TIMEOUT", "3")
    state = ProcessState()
    assert (state.policy.max_attempts, state.policy.deadline) == (2, 7.0)
    client = state.pool.get("https://brms.example.com")
    assert client.timeout.read == 3.0 and client.timeout.connect == 5.0
    assert client.follow_redirects is False
    assert state.pool.get("https://brms.example.com") is client  # one pooled client per base URL
    state.close()


# -- issue 19 item 3: one BRMS, one spelling ------------------------------------------------

SAME_BRMS = [
    ("https://acme.gorules.io", "https://acme.gorules.io:443"),
    ("https://acme.gorules.io", "https://ACME.GoRules.io/"),
    ("https://acme.gorules.io", "https://acme.gorules.io./api/"),
    ("https://acme.gorules.io", "https://acme.gorules.io.:443/api"),
    ("https://acme.gorules.io", "https://acme.gorules.io:"),
    ("https://acme.gorules.io/prefix", "https://acme.gorules.io//prefix//api//"),
    ("http://localhost:80", "http://localhost"),
    ("http://127.0.0.1:80/api", "http://127.0.0.1/"),
    ("http://[::1]:80", "http://[::1]"),
    ("https://bücher.example", "https://xn--bcher-kva.example"),
]

OTHER_BRMS = [
    ("https://acme.gorules.io", "https://acme.gorules.io:8443"),
    ("https://acme.gorules.io", "https://eu.gorules.io"),
    ("https://acme.gorules.io", "https://acme.gorules.io/prefix"),
    ("https://acme.gorules.io/Prefix", "https://acme.gorules.io/prefix"),  # paths are case-sensitive
    ("http://localhost:8080", "http://localhost"),
    ("http://localhost:443", "https://localhost"),  # the default port of the other scheme is not a default
]


@pytest.mark.parametrize("one, other", SAME_BRMS)
def test_respellings_of_one_brms_normalise_alike(one, other):
    assert normalize_base_url(one) == normalize_base_url(other)


@pytest.mark.parametrize("one, other", OTHER_BRMS)
def test_other_brms_stay_apart(one, other):
    assert normalize_base_url(one) != normalize_base_url(other)


def test_respelling_the_default_port_is_no_replace(monkeypatch):
    """Changing gorules:apiUrl to the same BRMS with `:443` must not rotate every token; a state
    whose stored brms_url an earlier release kept with `:443` is not replaced either."""
    from datetime import datetime, timezone

    from gorules_tokens.plan import plan

    config = ProviderConfig(api_url="https://acme.gorules.io:443/api")
    olds = {"access_token": "envtok_" + "a" * 20, "brms_url": "https://acme.gorules.io",
            "project_id": "p", "environment_id": "e"}
    news = {"project_id": "p", "environment_id": "e"}
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert not plan(olds, news, brms_url=lambda props: config.brms_url_for(props, {}), now=now).replaces
    stored_then = {**olds, "brms_url": "https://acme.gorules.io:443"}
    config = ProviderConfig(api_url="https://acme.gorules.io")
    assert not plan(stored_then, news, brms_url=lambda props: config.brms_url_for(props, {}), now=now).replaces
