"""One exhausted retry budget per URL per run: later calls fail at once."""

from dataclasses import replace

import httpx
import pytest

from gorules_tokens.client import BrmsClient
from gorules_tokens.config import Credentials, HttpSettings
from gorules_tokens.errors import BrmsError
from gorules_tokens.outage import OutageRegistry


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_registry_forgets_an_outage_after_its_memory() -> None:
    clock = Clock()
    registry = OutageRegistry(memory_s=60, clock=clock)
    registry.mark_down("https://brms", "ConnectError")
    assert registry.down_reason("https://brms") == "ConnectError"
    assert registry.down_reason("https://other") is None
    clock.now = 61
    assert registry.down_reason("https://brms") is None


def test_registry_mark_up_clears() -> None:
    registry = OutageRegistry()
    registry.mark_down("https://brms", "HTTP 503")
    registry.mark_up("https://brms")
    assert registry.down_reason("https://brms") is None


@pytest.fixture
def refusing_client(fast_retry_policy, fake_url, fake_brms):
    calls: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        raise httpx.ConnectError("Connection refused", request=request)

    http = httpx.Client(transport=httpx.MockTransport(refuse))
    registry = OutageRegistry()
    client = BrmsClient(http, Credentials(fake_url, fake_brms.pat), replace(fast_retry_policy, max_attempts=3),
                        HttpSettings(), outages=registry)
    yield client, calls, registry
    http.close()


def test_second_call_after_an_exhausted_outage_is_not_retried(refusing_client, fake_brms) -> None:
    client, calls, registry = refusing_client
    with pytest.raises(BrmsError) as first:
        client.regenerate_token(fake_brms.project_id, fake_brms.staging)
    assert "BRMS unreachable" in str(first.value) and "3 attempts" in str(first.value)
    assert len(calls) == 3

    with pytest.raises(BrmsError) as second:
        client.regenerate_token(fake_brms.project_id, fake_brms.production)
    assert len(calls) == 3, "a known outage must not be retried again"
    assert "BRMS unreachable" in str(second.value)
    assert fake_brms.production in str(second.value)
    assert registry.down_reason(client.base_url) is not None
