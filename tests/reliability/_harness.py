"""Helpers for the reliability suite (issue 6): a leak watch, measured figures, bulk
environments in localbrms, a capturing driver around the token stack, and state snapshots.

Everything here talks to 127.0.0.1 only (the localbrms of the test).
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
from pulumi import automation as auto

from gorules_tokens_localbrms.testing import LocalBRMSServer
from support.brms import TokenStack
from support.ops import UpRun, run_up

PROJECT = "gorules-tokens"
TOKEN_TYPE = "pulumi-python:dynamic/gorules:EnvironmentToken"
SECRET_SIG = "4dabf18193072939515e22adb298388d"

# Ambient provider settings of the machine running the suite must not change results.
CLEAN_PROVIDER_ENV = {
    "GORULES_URL": "",
    "GORULES_TOKEN": "",
    "GORULES_HTTP_TIMEOUT": "",
    "GORULES_RETRY_ATTEMPTS": "",
    "GORULES_RETRY_DEADLINE": "",
}

# Files that hold tokens by design: the BRMS's own database (it *is* the token store).
_NOT_SCANNED = re.compile(r"(\.db|\.db-wal|\.db-shm|\.db-journal)$")
_MAX_SCAN_BYTES = 64 * 1024 * 1024


# -- leak watch -----------------------------------------------------------------------


@dataclass
class Leak:
    where: str
    label: str

    def __str__(self) -> str:
        return f"{self.label} in {self.where}"


class LeakWatch:
    """Every secret the suite has seen, and every place a secret must not show up.

    Secrets: environment tokens (live ones, ones read from state, out-of-band ones),
    admin PATs, scoped PATs and wrong PATs. Places: whole test folders (Pulumi backend
    with stacks/history/backups/locks, Pulumi home with its logs, workspaces with stack
    config files, the localbrms server log; only the BRMS's SQLite database is
    skipped) and captured text (every line of CLI output of up/preview/refresh/destroy,
    stderr of CLI runs, failing ones included; the provider's stderr arrives there).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.secrets: dict[str, str] = {}
        self.roots: list[Path] = []
        self.texts: list[tuple[str, str]] = []

    def secret(self, value: str | None, label: str) -> None:
        if value and len(value) >= 8:
            with self._lock:
                self.secrets.setdefault(value, label)

    def root(self, path: Path) -> None:
        with self._lock:
            if path not in self.roots:
                self.roots.append(path)

    def text(self, where: str, text: str | None) -> None:
        if text:
            with self._lock:
                self.texts.append((where, text))

    def scan(self, roots: list[Path] | None = None, texts: list[tuple[str, str]] | None = None) -> list[Leak]:
        with self._lock:
            secrets = dict(self.secrets)
            roots = list(self.roots if roots is None else roots)
            texts = list(self.texts if texts is None else texts)
        leaks: list[Leak] = []
        for where, text in texts:
            leaks.extend(Leak(where, label) for value, label in secrets.items() if value in text)
        for path in iter_files(roots):
            data = path.read_bytes()
            for value, label in secrets.items():
                if value.encode() in data:
                    leaks.append(Leak(str(path), label))
        return leaks

    def files_scanned(self, roots: list[Path] | None = None) -> int:
        return sum(1 for _ in iter_files(self.roots if roots is None else roots))

    def as_dict(self) -> dict[str, Any]:
        """What this process saw, for the whole-suite scan that merges the watches of every
        test process (pytest-xdist workers each hold their own; see `_suite_end`)."""
        with self._lock:
            return {"secrets": dict(self.secrets), "roots": [str(p) for p in self.roots], "texts": list(self.texts)}

    def merge(self, data: dict[str, Any]) -> None:
        for value, label in data["secrets"].items():
            self.secret(value, label)
        for root in data["roots"]:
            self.root(Path(root))
        for where, text in data["texts"]:
            self.text(where, text)


def iter_files(roots: list[Path]) -> Iterator[Path]:
    """Regular files under `roots`, not following symlinks (workspaces link the repo)."""
    for root in roots:
        if not root.exists():
            continue
        for folder, dirs, files in os.walk(root, followlinks=False):
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
            for name in files:
                path = Path(folder) / name
                if path.is_symlink() or _NOT_SCANNED.search(name):
                    continue
                if path.stat().st_size <= _MAX_SCAN_BYTES:
                    yield path


# -- figures --------------------------------------------------------------------------


class Figures:
    """Measured numbers, printed at the end of the run and written as JSON."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, Any]] = {}

    def record(self, test: str, key: str, value: Any) -> None:
        if isinstance(value, float):
            value = round(value, 2)
        self.values.setdefault(test, {})[key] = value


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    start = time.monotonic()
    end: list[float] = []
    yield lambda: (end[0] if end else time.monotonic()) - start
    end.append(time.monotonic())


# -- localbrms -----------------------------------------------------------------------


def admin(brms: LocalBRMSServer) -> httpx.Client:
    return httpx.Client(base_url=brms.url, timeout=30, headers={"Authorization": f"Bearer {brms.pat}"})


def seed_project(brms: LocalBRMSServer, watch: LeakWatch) -> dict[str, Any]:
    """A new seeded project (staging + production); its tokens join the leak watch."""
    data = brms.seed()
    for env in data["environments"]:
        watch.secret(env["accessToken"], f"seeded token of {env['key']}")
    return data


def add_environments(brms: LocalBRMSServer, seed: dict[str, Any], count: int, prefix: str,
                     watch: LeakWatch | None = None) -> list[dict[str, Any]]:
    """`count` new `brms` environments in the seeded project, each with the seeded release
    deployed (so its token can evaluate `shipping`)."""
    created = []
    with admin(brms) as client:
        for index in range(count):
            key = f"{prefix}-{index:02d}"
            response = client.post(f"/api/projects/{seed['projectId']}/environments",
                                   json={"name": key, "key": key, "type": "brms"})
            response.raise_for_status()
            env = response.json()
            deploy = client.post(f"/api/projects/{seed['projectId']}/releases/deploy",
                                 json={"releaseId": seed["releaseId"], "environmentId": env["id"]})
            deploy.raise_for_status()
            assert deploy.json()["status"] == "deployed", deploy.json()
            if watch is not None:
                watch.secret(env.get("accessToken"), f"token of {key} at creation")
            created.append({"id": env["id"], "key": key, "name": key})
    return created


def live_tokens(brms: LocalBRMSServer, project_id: str, watch: LeakWatch | None = None) -> dict[str, str]:
    """environment id -> live token, from the BRMS list (admin PAT)."""
    with admin(brms) as client:
        response = client.get(f"/api/projects/{project_id}/environments")
        response.raise_for_status()
        tokens = {e["id"]: e["accessToken"] for e in response.json()}
    if watch is not None:
        for env_id, token in tokens.items():
            watch.secret(token, f"live token of {env_id}")
    return tokens


def evaluate_status(brms: LocalBRMSServer, project_id: str, environment_id: str, token: str) -> int:
    response = httpx.post(
        f"{brms.url}/api/projects/{project_id}/environments/{environment_id}/evaluate/shipping",
        json={"context": {"weight": 3, "country": "US"}},
        headers={"X-Access-Token": token},
        timeout=10,
    )
    return response.status_code


def request_rows(brms: LocalBRMSServer) -> list[dict[str, Any]]:
    return list(brms.metrics()["requests"]["byRoute"])


def count(rows: list[dict[str, Any]], route: str | None = None, status: int | None = None,
          method: str | None = None) -> int:
    return sum(r["count"] for r in rows
               if (route is None or r["route"] == route)
               and (status is None or r["status"] == status)
               and (method is None or r["method"] == method))


def by_status(rows: list[dict[str, Any]], route: str) -> dict[int, int]:
    out: dict[int, int] = {}
    for row in rows:
        if row["route"] == route:
            out[row["status"]] = out.get(row["status"], 0) + row["count"]
    return dict(sorted(out.items()))


def wait_for_requests(brms: LocalBRMSServer, route: str, total: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """Metrics once `route` has counted `total` requests (server-side work can outlive
    the client that gave up on it)."""
    deadline = time.monotonic() + timeout
    rows = request_rows(brms)
    while count(rows, route) < total and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = request_rows(brms)
    return rows


class BlackHole:
    """A TCP listener on the BRMS port that takes connections and never answers: a hung
    BRMS without side effects (no handler ever runs). Records when each connection came."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(256)
        self.sock.settimeout(0.1)
        self.started = time.monotonic()
        self.connections: list[float] = []  # seconds since start
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(time.monotonic() - self.started)
            self._open.append(conn)

    def close(self) -> None:
        """Stops listening (the port is free again when this returns)."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()
        for conn in self._open:
            conn.close()


# -- state ----------------------------------------------------------------------------


def unwrap(value: Any) -> Any:
    """Decrypted value of a `--show-secrets` export, recursively."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270" and "plaintext" in value:
            return unwrap(json.loads(value["plaintext"]))
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


@dataclass
class Snapshot:
    """What the backend holds for a stack, decrypted and without `__provider`."""

    tokens: dict[str, dict[str, Any]]  # resource name -> outputs
    inputs: dict[str, dict[str, Any]]
    ids: dict[str, str]
    stack_outputs: dict[str, Any]
    pending: list[Any]
    providers: dict[str, str] = field(default_factory=dict)  # name -> base64 pickle

    def comparable(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "inputs": self.inputs, "ids": self.ids,
                "stack_outputs": self.stack_outputs, "pending": self.pending}

    def token(self, name: str) -> str:
        return str(self.tokens[name]["access_token"])


# -- the driver -----------------------------------------------------------------------


class Driver:
    """The token stack of `support.brms.TokenStack`, with every CLI line captured for the
    leak watch, and helpers for env vars, config and decrypted snapshots."""

    def __init__(self, ts: TokenStack, watch: LeakWatch, label: str) -> None:
        self.ts = ts
        self.watch = watch
        self.label = label
        self.log_path = ts.work_dir.parent / f"cli-{ts.stack.name}.log"
        self.last_output = ""
        watch.root(ts.work_dir)

    @property
    def stack(self) -> auto.Stack:
        return self.ts.stack

    def env(self, **values: str) -> None:
        """Sets env vars of later CLI runs (they reach the provider process)."""
        self.stack.workspace.env_vars.update({k: str(v) for k, v in values.items()})

    def configure(self, environments: list[dict[str, Any]]) -> None:
        self.ts.configure(environments)

    def _run(self, op: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        lines: list[str] = []
        kwargs.setdefault("on_output", lines.append)
        kwargs.setdefault("on_error", lines.append)
        where = f"{self.label}: pulumi {op} ({self.stack.name})"
        try:
            result = fn(**kwargs)
        except auto.errors.CommandError as exc:
            text = "\n".join(lines) + "\n" + str(exc)
            self._keep(where + " [failed]", text)
            raise
        text = "\n".join(lines) + "\n" + (getattr(result, "stdout", "") or "") + "\n" + (getattr(result, "stderr", "") or "")
        self._keep(where, text)
        return result

    def _keep(self, where: str, text: str) -> None:
        self.last_output = text
        self.watch.text(where, text)
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"==== {where}\n{text}\n")

    def up(self, **kwargs: Any) -> UpRun:
        return self._run("up", lambda **options: run_up(self.stack, **options), **kwargs)

    def preview(self, **kwargs: Any) -> auto.PreviewResult:
        return self._run("preview", self.stack.preview, **kwargs)

    def refresh(self, **kwargs: Any) -> auto.RefreshResult:
        return self._run("refresh", self.stack.refresh, **kwargs)

    def destroy(self, **kwargs: Any) -> auto.DestroyResult:
        return self._run("destroy", self.stack.destroy, **kwargs)

    def fails(self, op: str, **kwargs: Any) -> str:
        """Runs `op`, which must fail; returns its whole output (CLI lines + error)."""
        try:
            getattr(self, op)(**kwargs)
        except auto.errors.CommandError:
            return self.last_output
        raise AssertionError(f"pulumi {op} succeeded but was expected to fail:\n{self.last_output[-3000:]}")

    def snapshot(self) -> Snapshot:
        """Decrypted state (`stack export --show-secrets`; not captured as CLI output)."""
        deployment = self.stack.export_stack().deployment or {}
        tokens: dict[str, dict[str, Any]] = {}
        inputs: dict[str, dict[str, Any]] = {}
        ids: dict[str, str] = {}
        providers: dict[str, str] = {}
        stack_outputs: dict[str, Any] = {}
        for resource in deployment.get("resources", []) or []:
            name = resource["urn"].rsplit("::", 1)[-1]
            if resource.get("type") == TOKEN_TYPE:
                outs = unwrap(resource.get("outputs", {}))
                provider = outs.pop("__provider", None)
                if isinstance(provider, str):
                    providers[name] = provider
                tokens[name] = outs
                inputs[name] = {k: v for k, v in unwrap(resource.get("inputs", {})).items() if k != "__provider"}
                ids[name] = resource.get("id")
                self.watch.secret(outs.get("access_token"), f"state token of {name}")
            elif resource.get("type") == "pulumi:pulumi:Stack":
                stack_outputs = unwrap(resource.get("outputs", {}))
        published = stack_outputs.get("accessTokens")
        if isinstance(published, dict):  # after a failed run it can be the "unknown" marker
            for value in published.values():
                self.watch.secret(value if isinstance(value, str) else None, "stack output token")
        return Snapshot(tokens, inputs, ids, stack_outputs, deployment.get("pending_operations") or [], providers)


def entry(project_id: str, environment_id: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "projectId": project_id, "environmentId": environment_id, **extra}


# The provider's errors: one line "error: gorules <operation> failed: ..." (issue 26), or the
# last line of a traceback where a ConfigError still is one (or server_errors is not installed).
_ERROR_LINE = re.compile(
    r"(?:gorules_tokens\.errors\.(?:BrmsError|ConfigError): |error: (?=gorules [\w-]+ failed))([^\n]*)")
_ENV_ID = re.compile(r"\(environment ([0-9a-f-]{36})")


def provider_errors(text: str) -> dict[str, str]:
    """The provider's error message per environment id ('' when none is named), once
    each (the CLI prints every error twice: progress line and diagnostics). The longest
    wins: the progress line may be cut short."""
    found: dict[str, str] = {}
    for message in _ERROR_LINE.findall(text):
        match = _ENV_ID.search(message)
        key = match.group(1) if match else ""
        if len(message) > len(found.get(key, "")):
            found[key] = message
    return found


def gave_up_after(text: str) -> list[int]:
    """Attempt counts of the provider calls that gave up, one per environment."""
    counts = []
    for message in provider_errors(text).values():
        match = re.search(r"gave up after (\d+) attempts?", message)
        if match:
            counts.append(int(match.group(1)))
    return sorted(counts)


class KnownGap(AssertionError):
    """A requirement of issue 6 that the code under test does not meet yet. Raised only
    by the assertion that checks that requirement, after every other assertion of the
    test passed, so `xfail(strict=True, raises=KnownGap)` hides nothing else."""


def require(condition: bool, message: str) -> None:
    if not condition:
        raise KnownGap(message)
