"""One HTTP question to the BRMS and its answer, decoded once, secrets registered for scrubbing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import httpx

from gorules_tokens.errors import register_secret, scrub

_MAX_TEXT = 200


@dataclass(frozen=True)
class Answer:
    status: Optional[int]  # None: no HTTP answer (transport error)
    body: Any  # decoded JSON, the text if not JSON, None if empty
    error: str = ""  # transport error

    @property
    def is_json_object(self) -> bool:
        return isinstance(self.body, dict)

    def message(self) -> str:
        """The BRMS's error message (``message`` of ``{statusCode, error, message}``), short."""
        if isinstance(self.body, dict):
            value = self.body.get("message", self.body.get("code", ""))
            if isinstance(value, list):
                value = "; ".join(str(v) for v in value)
            return scrub(str(value))[:_MAX_TEXT]
        if isinstance(self.body, str):
            return scrub(self.body.strip().replace("\n", " "))[:_MAX_TEXT]
        return ""

    def describe(self) -> str:
        if self.status is None:
            return f"no answer ({self.error})"
        kind = (
            "empty body" if self.body is None
            else "JSON object" if isinstance(self.body, dict)
            else f"JSON array of {len(self.body)}" if isinstance(self.body, list)
            else "non-JSON body" if isinstance(self.body, str)
            else f"JSON {type(self.body).__name__}"
        )
        message = self.message()
        return f"HTTP {self.status}, {kind}" + (f", message {message!r}" if message else "")


class Probe:
    """Asks the BRMS at ``base_url`` (no redirects followed: the PAT stays on this host)."""

    def __init__(self, base_url: str, pat: str, timeout: float = 20.0) -> None:
        register_secret(pat)
        self.base_url = base_url
        self.pat = pat
        self._http = httpx.Client(timeout=timeout, follow_redirects=False, headers={"Accept": "application/json"})

    def ask(self, method: str, path: str, *, pat: Optional[str] = "default", json: Any = None) -> Answer:
        """``pat=None`` sends no Authorization header; a string sends that token instead."""
        token = self.pat if pat == "default" else pat
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = self._http.request(method, self.base_url + path, headers=headers, json=json)
        except httpx.HTTPError as exc:
            return Answer(None, None, scrub(f"{type(exc).__name__}: {exc}")[:_MAX_TEXT])
        return Answer(response.status_code, decode(response))

    def close(self) -> None:
        self._http.close()


def decode(response: httpx.Response) -> Any:
    if not response.content.strip():
        return None
    try:
        body = response.json()
    except ValueError:
        return response.text
    # An environment's accessToken, and a PAT answer's token (GoRules sends it on creation only).
    for item in body if isinstance(body, list) else [body]:
        for key in ("accessToken", "token"):
            if isinstance(item, dict) and isinstance(item.get(key), str):
                register_secret(item[key])
    return body
