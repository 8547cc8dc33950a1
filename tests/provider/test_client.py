"""BrmsClient over an in-memory transport: wire format, errors, retries."""

import traceback
from dataclasses import replace

import httpx
import pytest

from gorules_tokens.client import BrmsClient
from gorules_tokens.config import Credentials, HttpSettings
from gorules_tokens.errors import BrmsError



@pytest.fixture
def client_for(fake_brms, fast_retry_policy, fake_url):
    made = []

    def factory(pat=None, transport=None, settings=None, max_attempts=4):
        http = httpx.Client(transport=transport or fake_brms.transport, follow_redirects=False)
        made.append(http)
        policy = replace(fast_retry_policy, max_attempts=max_attempts)
        return BrmsClient(http, Credentials(fake_url, pat or fake_brms.pat), policy, settings or HttpSettings(),
                          on_mutation=mutations.append)

    mutations: list[str] = []
    factory.mutations = mutations
    yield factory
    for http in made:
        http.close()


def test_list_and_regenerate(fake_brms, client_for):
    client = client_for()
    items = client.list_environments(fake_brms.project_id)
    assert {i.id for i in items} == {fake_brms.staging, fake_brms.production}
    before = fake_brms.token(fake_brms.staging)
    env = client.regenerate_token(fake_brms.project_id, fake_brms.staging)
    assert env.access_token.get_secret_value() == fake_brms.token(fake_brms.staging) != before
    assert env.type == "brms" and env.release_id == fake_brms.release_id
    assert client_for.mutations == [fake_brms.project_id]


def test_requests_carry_bearer_pat_and_no_redirect_following(fake_brms, client_for):
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(302, headers={"Location": "https://elsewhere.example.com/api"})

    client = client_for(transport=httpx.MockTransport(handler))
    with pytest.raises(BrmsError) as info:
        client.list_environments(fake_brms.project_id)
    assert len(seen) == 1 and seen[0].headers["authorization"] == f"Bearer {fake_brms.pat}"
    assert info.value.status == 302 and "redirect" in str(info.value)


def test_deploy_outcomes(fake_brms, client_for):
    client = client_for()
    out = client.deploy_release(fake_brms.project_id, fake_brms.release_id, fake_brms.production, "c")
    assert out.kind == "deployed"
    assert fake_brms.deploys[-1] == {"releaseId": fake_brms.release_id, "environmentId": fake_brms.production,
                                     "comment": "c"}
    gated = fake_brms.add_env("Gated", "gated", "deployment", release=True, approval="require_any")
    out = client.deploy_release(fake_brms.project_id, fake_brms.release_id, gated, "c")
    assert out.kind == "change_request" and out.id.startswith("cr-")


@pytest.mark.parametrize("status", [401, 403, 404])
def test_http_errors_name_operation_status_env_and_hide_secrets(fake_brms, client_for, status):
    old_token = fake_brms.token(fake_brms.staging)
    body = {"statusCode": status, "error": "Nope", "message": f"denied for {fake_brms.pat} / {old_token}"}
    fake_brms.fault("POST", "regenerate-token", status=status, body=body)
    client = client_for()
    client.list_environments(fake_brms.project_id)  # registers the live token as a secret
    with pytest.raises(BrmsError) as info:
        client.regenerate_token(fake_brms.project_id, fake_brms.staging)
    err = info.value
    text = "".join(traceback.format_exception(err))
    assert "regenerate-token" in text and f"HTTP {status}" in text and fake_brms.staging in text
    assert fake_brms.pat not in text and old_token not in text
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)
    assert fake_brms.count("POST", "regenerate-token") == 1  # 4xx never retried
    if status in (401, 403):
        assert "GORULES_TOKEN" in text


def test_wrong_pat_is_401_without_leak(fake_brms, client_for):
    client = client_for(pat="wrong_pat_value_123")
    with pytest.raises(BrmsError) as info:
        client.list_environments(fake_brms.project_id)
    assert info.value.status == 401 and "wrong_pat_value_123" not in str(info.value)


def test_retries_503_then_succeeds(fake_brms, client_for, sleeps):
    fake_brms.fault("GET", "environments$", status=503, times=2)
    assert client_for().list_environments(fake_brms.project_id)
    assert fake_brms.count("GET", "/environments") == 3 and len(sleeps.calls) == 2


def test_honours_retry_after(fake_brms, client_for, sleeps):
    fake_brms.fault("GET", "environments$", status=429, headers={"Retry-After": "3"})
    assert client_for().list_environments(fake_brms.project_id)
    assert sleeps.calls == [3.0]


def test_gives_up_after_max_attempts(fake_brms, client_for):
    fake_brms.fault("GET", "environments$", status=502, times=99)
    with pytest.raises(BrmsError) as info:
        client_for().list_environments(fake_brms.project_id)
    assert info.value.status == 502 and "4 attempts" in str(info.value)
    assert fake_brms.count("GET", "/environments") == 4


def test_connect_errors_are_retried_and_wrapped(fake_brms, client_for):
    fake_brms.fault("GET", "environments$", exc=httpx.ConnectError("Connection refused"), times=99)
    with pytest.raises(BrmsError) as info:
        client_for().list_environments(fake_brms.project_id)
    err = info.value
    assert err.status is None and "ConnectError" in str(err) and fake_brms.project_id in str(err)
    assert err.__suppress_context__
    assert fake_brms.count("GET", "/environments") == 4


def test_regenerate_retried_after_dropped_response(fake_brms, client_for):
    fake_brms.fault("POST", "regenerate-token", exc=httpx.RemoteProtocolError("Server disconnected"))
    env = client_for().regenerate_token(fake_brms.project_id, fake_brms.staging)
    assert env.access_token.get_secret_value() == fake_brms.token(fake_brms.staging)
    assert fake_brms.count("POST", "regenerate-token") == 2


def test_deploy_not_retried_on_500_or_read_timeout(fake_brms, client_for):
    fake_brms.fault("POST", "deploy", status=500)
    with pytest.raises(BrmsError):
        client_for().deploy_release(fake_brms.project_id, fake_brms.release_id, fake_brms.production, "c")
    fake_brms.fault("POST", "deploy", exc=httpx.ReadTimeout("timed out"))
    with pytest.raises(BrmsError):
        client_for().deploy_release(fake_brms.project_id, fake_brms.release_id, fake_brms.production, "c")
    assert fake_brms.count("POST", "deploy") == 2
    fake_brms.fault("POST", "deploy", status=503)
    client_for().deploy_release(fake_brms.project_id, fake_brms.release_id, fake_brms.production, "c")
    assert fake_brms.count("POST", "deploy") == 4


def test_unexpected_shapes_are_brms_errors_without_values(fake_brms, client_for):
    fake_brms.fault("GET", "environments$", status=200, body={"not": "a list"})
    with pytest.raises(BrmsError, match="expected a JSON array"):
        client_for().list_environments(fake_brms.project_id)
    fake_brms.fault("POST", "regenerate-token", status=200, body={"accessToken": "tok_without_id_123"})
    with pytest.raises(BrmsError) as info:
        client_for().regenerate_token(fake_brms.project_id, fake_brms.staging)
    assert "tok_without_id_123" not in str(info.value) and "id" in str(info.value)


def test_non_json_error_body(fake_brms, client_for):
    def handler(request):
        return httpx.Response(404, text="<html>nope</html>")

    with pytest.raises(BrmsError) as info:
        client_for(transport=httpx.MockTransport(handler)).list_environments(fake_brms.project_id)
    assert info.value.status == 404 and "nope" in str(info.value)
