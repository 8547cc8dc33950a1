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
    assert err.status == 403 and not err.not_found


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
