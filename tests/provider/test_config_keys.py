"""Unknown keys of our two config namespaces are refused at preview, naming the nearest known
key (issue 26, item 2); check() also refuses a BRMS without URL or PAT once configured."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pulumi.dynamic import Config, ConfigureRequest

from gorules_tokens.config_keys import KNOWN_KEYS, nearest_key, unknown_key_problems
from gorules_tokens.provider import EnvironmentTokenProvider

P = "123e4567-e89b-12d3-a456-426614174000"
E = "223e4567-e89b-12d3-a456-426614174000"
PROV = "c2VyaWFsaXplZA=="
URL = "https://brms.example.com"


@pytest.mark.parametrize("typo, nearest", [
    ("gorules:apiurl", "gorules:apiUrl"),
    ("gorules:apiURL", "gorules:apiUrl"),
    ("gorules:tokn", "gorules:token"),
    ("gorules:instance", "gorules:instances"),
    ("gorules-tokens:enviroments", "gorules-tokens:environments"),
    ("gorules-tokens:consumer", "gorules-tokens:consumers"),
])
def test_a_typo_names_the_key_and_the_nearest_known_one(typo: str, nearest: str) -> None:
    assert unknown_key_problems([typo]) == [f"unknown config key '{typo}': did you mean '{nearest}'?"]


REPO = Path(__file__).resolve().parents[2]
# Files that spell wrong keys on purpose (examples of typos).
_TYPO_EXAMPLES = {"config_keys.py", "server_errors.py"}


def test_every_key_the_code_names_is_known() -> None:
    """A setting added anywhere (provider, token stack program, rollout) without its row here
    would make every preview that uses it fail: the table must follow the code."""
    named = set()
    for folder in (REPO / "provider" / "gorules_tokens", REPO / "tokenstack"):
        for path in folder.rglob("*.py"):
            if path.name not in _TYPO_EXAMPLES:
                named |= set(re.findall(r"\b(gorules(?:-tokens)?):([A-Za-z]+)\b", path.read_text()))
    named.discard(("gorules", "EnvironmentToken"))  # the resource's type token, not a config key
    assert named, "no key found: the scan is broken"
    unknown = sorted(f"{ns}:{key}" for ns, key in named if key not in KNOWN_KEYS[ns])
    assert unknown == []


def test_known_keys_and_other_namespaces_pass() -> None:
    known = [f"{ns}:{key}" for ns, keys in KNOWN_KEYS.items() for key in keys]
    assert unknown_key_problems([*known, "aws:region", "my-app:apiurl", "plain"]) == []


def test_a_key_nothing_resembles_lists_the_known_ones() -> None:
    (problem,) = unknown_key_problems(["gorules:zzzz"])
    assert problem == ("unknown config key 'gorules:zzzz': known keys: gorules:apiUrl, gorules:token, "
                       "gorules:instances, gorules:patId")
    assert nearest_key("gorules", "zzzz") is None


def _configured(raw: dict) -> EnvironmentTokenProvider:
    provider = EnvironmentTokenProvider()
    provider.configure(ConfigureRequest(Config(raw_config=raw, project_name="proj")))
    return provider


def _reasons(provider: EnvironmentTokenProvider, monkeypatch, **extra) -> list[str]:
    for name in ("GORULES_URL", "GORULES_TOKEN", "GORULES_INSTANCES"):
        monkeypatch.delenv(name, raising=False)
    result = provider.check({}, {"project_id": P, "environment_id": E, "__provider": PROV, **extra})
    assert all(f.property == "" for f in result.failures)  # resource-level: one line in the engine
    return [f.reason for f in result.failures]


def test_check_refuses_an_unknown_key_of_the_provider_config(monkeypatch) -> None:
    provider = _configured({"gorules:apiurl": URL, "gorules:token": "pat-123456", "aws:region": "x"})
    assert _reasons(provider, monkeypatch) == ["unknown config key 'gorules:apiurl': did you mean 'gorules:apiUrl'?"]


def test_check_refuses_a_missing_url_or_pat(monkeypatch) -> None:
    (no_url,) = _reasons(_configured({"gorules:token": "pat-123456"}), monkeypatch)
    assert "no BRMS URL configured" in no_url and "gorules:apiUrl" in no_url
    (no_pat,) = _reasons(_configured({"gorules:apiUrl": URL}), monkeypatch)
    assert "no GoRules personal access token configured" in no_pat and "gorules:token" in no_pat
    eu = '{"eu": {"apiUrl": "https://eu.example.com"}}'
    (no_eu_pat,) = _reasons(_configured({"gorules:apiUrl": URL, "gorules:token": "pat-123456",
                                         "gorules:instances": eu}), monkeypatch, instance="eu")
    assert "instance 'eu'" in no_eu_pat and "GORULES_TOKEN_EU" in no_eu_pat


def test_check_accepts_url_and_pat_from_the_environment(monkeypatch) -> None:
    provider = _configured({})
    for name in ("GORULES_INSTANCES",):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GORULES_URL", URL)
    monkeypatch.setenv("GORULES_TOKEN", "pat-123456")
    result = provider.check({}, {"project_id": P, "environment_id": E, "__provider": PROV})
    assert result.failures == []


def test_an_unconfigured_provider_checks_inputs_only(monkeypatch) -> None:
    # Unit use without the engine (no configure): no credentials asked for.
    assert _reasons(EnvironmentTokenProvider(), monkeypatch) == []
