import pytest

from gorules_tokens.errors import BrmsError, ConfigError, register_secret, scrub


def test_scrub_registered_and_bearer():
    register_secret("tok_abcdef123456")
    text = scrub("token tok_abcdef123456 header Authorization: Bearer xyz.abc-123")
    assert "tok_abcdef123456" not in text and "xyz.abc-123" not in text
    assert text.count("[redacted]") == 2


def test_short_strings_are_not_registered():
    register_secret("abc")
    assert scrub("abc abc") == "abc abc"


def test_brms_error_message_names_everything():
    err = BrmsError("regenerate-token", status=403, error="Forbidden", message="Missing permission",
                    project_id="p-1", environment_id="e-1", hint="Check the PAT")
    text = str(err)
    for part in ("regenerate-token", "HTTP 403", "Forbidden", "Missing permission", "environment e-1", "project p-1",
                 "Check the PAT"):
        assert part in text
    assert err.status == 403


def test_brms_error_scrubs_message_and_copy_is_equal():
    register_secret("leaky_secret_value")
    err = BrmsError("list-environments", status=500, message="boom leaky_secret_value")
    assert "leaky_secret_value" not in str(err)
    clone = err.copy()
    assert str(clone) == str(err) and clone is not err


def test_transport_error_has_no_status():
    err = BrmsError("list-environments", message="ConnectError: refused")
    assert str(err) == "gorules list-environments failed: ConnectError: refused"


def test_config_error_is_scrubbed():
    register_secret("another_secret_1")
    assert "another_secret_1" not in str(ConfigError("bad another_secret_1"))


# -- issue 19 item 6: scrubbing without holes ---------------------------------------------------

def test_the_registry_never_forgets_a_secret():
    """0.2.0 cleared every entry once 10,000 were registered, so the first token printed again."""
    from gorules_tokens.errors import _SecretRegistry

    registry = _SecretRegistry()
    first = "envtok_first_" + "f" * 20
    registry.register(first)
    for i in range(10_050):
        registry.register(f"envtok_{i:08d}_" + "x" * 16)
    assert first not in registry.scrub(f"boom {first} boom")
    assert registry.scrub("envtok_00010049_" + "x" * 16) == "[redacted]"


def test_secrets_of_several_lengths_are_all_scrubbed_longest_first():
    from gorules_tokens.errors import _SecretRegistry

    registry = _SecretRegistry()
    for secret in ("abcdef", "abcdefghij", "zz-secret-zz"):
        registry.register(secret)
    assert registry.scrub("abcdefghij abcdef zz-secret-zz abcde") == "[redacted] [redacted] [redacted] abcde"


@pytest.mark.parametrize("status", [409, 500])
def test_a_token_echoed_in_a_regenerate_error_body_is_never_printed(fake_brms, make_provider, props_for, status):
    """The BRMS minted a token and then failed, echoing it in the error body's fields and in its
    message: the BrmsError (and its traceback text) must not carry it."""
    minted = "envtok_echoed_" + "e" * 24
    body = {"statusCode": status, "error": "Conflict", "message": f"token {minted} saved, then failed",
            "environment": {"id": fake_brms.staging, "accessToken": minted}}
    fake_brms.fault("POST", "regenerate-token", status=status, body=body, times=10)
    with pytest.raises(BrmsError) as info:
        make_provider().create(props_for(fake_brms.project_id, fake_brms.staging))
    assert info.value.status == status and "[redacted]" in str(info.value)
    assert minted not in str(info.value) and minted not in repr(info.value.args)


# -- one exported error tree (issue 19, smaller) ------------------------------------------------

def test_one_base_catches_every_error_the_package_raises():
    """Each error comes from a real code path and is caught as ``GoRulesTokensError``, and the
    value errors stay ``ValueError``s (as ``httpx.HTTPError`` roots httpx's own tree)."""
    import pulumi

    import gorules_tokens
    from gorules_tokens.claims import claim
    from gorules_tokens.config import normalize_base_url
    from gorules_tokens.durations import parse_duration
    from gorules_tokens.fields import parse_uuid
    from gorules_tokens.inputs import validate_inputs
    from gorules_tokens.instances import ProviderConfig

    base = gorules_tokens.GoRulesTokensError
    raised = []
    for call in (
        lambda: normalize_base_url("ftp://x"),
        lambda: parse_duration("soon"),
        lambda: parse_uuid("nope"),
        lambda: validate_inputs({"project_id": "nope"}),
        lambda: ProviderConfig(api_url="https://a.example.com").resolve({"brms_url": "https://b.example.com"}, {}),
        lambda: [claim("one", "p" * 8, "e" * 8), claim("two", "p" * 8, "e" * 8)],
    ):
        with pytest.raises(base) as info:
            call()
        raised.append(type(info.value))
    assert raised == [gorules_tokens.ConfigError, gorules_tokens.DurationError, gorules_tokens.FieldError,
                      gorules_tokens.InputError, gorules_tokens.UnconfiguredBrms,
                      gorules_tokens.DuplicateEnvironmentError]
    assert issubclass(gorules_tokens.DuplicateEnvironmentError, pulumi.RunError)
    for value_error in (gorules_tokens.InvalidValueError, gorules_tokens.DurationError, gorules_tokens.FieldError,
                        gorules_tokens.InputError):
        assert issubclass(value_error, ValueError)
    assert issubclass(gorules_tokens.BrmsError, base) and issubclass(gorules_tokens.UnconfiguredBrms,
                                                                     gorules_tokens.ConfigError)
    assert {name for name in gorules_tokens.__all__ if name.endswith("Error") or name == "UnconfiguredBrms"} == {
        "BrmsError", "ConfigError", "DuplicateEnvironmentError", "DurationError", "FieldError", "GoRulesTokensError",
        "InputError", "InvalidValueError", "UnconfiguredBrms"}
