"""Error types and secret scrubbing.

Pulumi 3.272 prints the full Python traceback of any exception raised inside a
provider method to the CLI (and to Automation API ``on_output``), so every error
this package raises must be safe to print: no PAT, no environment token, no
httpx request objects. Messages are scrubbed against a process-wide registry of
secrets the provider has seen, as a defensive second line behind "never format
a secret into a message in the first place".
"""

from __future__ import annotations

import re
import threading
from typing import Optional

_MIN_SECRET_LEN = 6
_REDACTED = "[redacted]"
_BEARER_RE = re.compile(r"(?i)(bearer\s+)[^\s,;\"']+")


class _SecretRegistry:
    """Thread-safe set of strings that must never appear in messages.

    Nothing is ever forgotten: a secret dropped to bound memory could be printed later by a
    long-running process. It grows with the tokens and PATs the process has seen, as the
    engine's own state does. ``scrub`` looks up every substring of each length a secret has,
    so its cost grows with the message and the number of distinct lengths, not with the
    number of secrets.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._lengths: frozenset[int] = frozenset()

    def register(self, secret: Optional[str]) -> None:
        if not secret or len(secret) < _MIN_SECRET_LEN:
            return
        with self._lock:
            if secret not in self._secrets:
                self._secrets.add(secret)
                self._lengths = self._lengths | {len(secret)}

    def scrub(self, text: str) -> str:
        with self._lock:
            secrets, lengths = self._secrets, self._lengths
            found = {text[i:i + n] for n in lengths for i in range(len(text) - n + 1) if text[i:i + n] in secrets}
        for secret in sorted(found, key=len, reverse=True):
            text = text.replace(secret, _REDACTED)
        return _BEARER_RE.sub(lambda m: m.group(1) + _REDACTED, text)

    def clear(self) -> None:
        with self._lock:
            self._secrets.clear()
            self._lengths = frozenset()


SECRETS = _SecretRegistry()


def register_secret(secret: Optional[str]) -> None:
    """Remember a secret so that any later message containing it is redacted."""
    SECRETS.register(secret)


def scrub(text: str) -> str:
    """Redact every registered secret (and any ``Bearer <x>``) from ``text``."""
    return SECRETS.scrub(text)


class GoRulesTokensError(Exception):
    """Base of every error this package raises (as ``httpx.HTTPError`` is of httpx's): one
    ``except GoRulesTokensError`` catches them all. The message is scrubbed at construction.

    The tree (``provider/README.md``, Errors)::

        GoRulesTokensError
        ├── ConfigError              the stack config or the environment: URL, PAT, instances, tuning
        │   └── UnconfiguredBrms     a token lives on a BRMS the stack no longer configures
        ├── InvalidValueError        also a ValueError: one value is invalid
        │   ├── InputError           EnvironmentToken inputs (each problem names its field)
        │   ├── FieldError           one field's value
        │   └── DurationError        a duration such as ``30d``
        ├── BrmsError                a BRMS call failed (operation, status, URL, environment)
        └── DuplicateEnvironmentError  also a pulumi.RunError: two resources for one environment
    """

    def __init__(self, message: str) -> None:
        super().__init__(scrub(message))

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigError(GoRulesTokensError):
    """Missing or invalid provider configuration (URL, PAT, timeouts)."""


class InvalidValueError(GoRulesTokensError, ValueError):
    """A value the user gave is invalid; a ``ValueError`` too, as before 0.3."""


class BrmsError(GoRulesTokensError):
    """A BRMS call failed.

    Carries the operation name, HTTP status (None for transport failures), the
    BRMS message, the environment/project ids and the URL called, so the CLI output
    tells the operator what failed and where without exposing credentials.
    ``brms_answer`` is True only when the body was the BRMS's own JSON error: nothing
    else may be read as "gone".
    """

    def __init__(
        self,
        operation: str,
        *,
        status: Optional[int] = None,
        message: str = "",
        error: Optional[str] = None,
        project_id: Optional[str] = None,
        environment_id: Optional[str] = None,
        hint: Optional[str] = None,
        url: Optional[str] = None,
        brms_answer: bool = False,
    ) -> None:
        self.operation = operation
        self.url = url
        self.brms_answer = brms_answer
        self.status = status
        self.error = scrub(error) if error else None
        self.brms_message = scrub(message)
        self.project_id = project_id
        self.environment_id = environment_id
        self.hint = hint
        super().__init__(self._format())

    def _format(self) -> str:
        parts = [f"gorules {self.operation} failed"]
        if self.status is not None:
            status = f"HTTP {self.status}"
            if self.error:
                status += f" {self.error}"
            parts.append(status)
        if self.brms_message:
            parts.append(self.brms_message)
        text = ": ".join(parts)
        where = []
        if self.environment_id:
            where.append(f"environment {self.environment_id}")
        if self.project_id:
            where.append(f"project {self.project_id}")
        if self.url:
            where.append(f"at {self.url}")
        if where:
            text += f" ({', '.join(where)})"
        if self.hint:
            text += f". {self.hint}"
        return text

    def copy(self, hint: Optional[str] = None) -> "BrmsError":
        """A fresh instance (own traceback) for re-raising in another thread, optionally
        with another hint (the caller knows better what to advise)."""
        return BrmsError(
            self.operation,
            status=self.status,
            message=self.brms_message,
            error=self.error,
            project_id=self.project_id,
            environment_id=self.environment_id,
            hint=self.hint if hint is None else hint,
            url=self.url,
            brms_answer=self.brms_answer,
        )
