"""__provider must pickle by reference, tiny, and without credentials."""

import base64
import subprocess
import sys

import dill
from pulumi.dynamic import Config, ConfigureRequest
from pulumi.dynamic.dynamic import serialize_provider

from gorules_tokens.process import ProcessState
from gorules_tokens.provider import EnvironmentTokenProvider


def configured_provider(pat: str) -> EnvironmentTokenProvider:
    provider = EnvironmentTokenProvider(state=ProcessState(), clock=lambda: None)
    raw = {"gorules:apiUrl": "https://brms.example.com", "gorules:token": pat}
    provider.configure(ConfigureRequest(Config(raw_config=raw, project_name="proj")))
    provider._config.resolve()  # as after a first real call
    return provider


def test_serialized_exactly_like_pulumi_is_small_and_secret_free():
    pat = "pat_SUPERSECRET_0123456789"
    serialized = serialize_provider(configured_provider(pat))
    raw = base64.b64decode(serialized)
    assert len(raw) < 256
    assert pat.encode() not in raw and b"brms.example.com" not in raw
    assert b"gorules_tokens.provider" in raw and b"EnvironmentTokenProvider" in raw  # by reference
    assert b"co_code" not in raw and b"httpx" not in raw


def test_roundtrip_yields_fresh_unconfigured_provider():
    raw = base64.b64decode(serialize_provider(configured_provider("pat_abcdefgh_123")))
    clone = dill.loads(raw)
    assert isinstance(clone, EnvironmentTokenProvider)
    assert clone._config.token is None and clone._config.api_url is None
    assert clone._state is None and clone._clock is None


def test_serialization_is_deterministic():
    a = serialize_provider(EnvironmentTokenProvider())
    b = serialize_provider(configured_provider("pat_other_1234567"))
    assert a == b


def test_a_program_of_thousands_of_tokens_can_pickle_them_all():
    # The SDK (3.272) wraps pickle's dict writer once more at every serialize_provider call and
    # never unwraps it; a pickle with a dict in it then recursed once per earlier token and failed
    # near the 960th (issue 18). Run apart, since the wrapping stays in the process.
    script = (
        "from pulumi.dynamic.dynamic import serialize_provider\n"
        "from gorules_tokens.provider import EnvironmentTokenProvider\n"
        "blobs = {serialize_provider(EnvironmentTokenProvider()) for _ in range(1500)}\n"
        "assert len(blobs) == 1, blobs\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
