"""Run a real localbrms server in a subprocess, for tests, fixtures and the demo.

Usage::

    from gorules_tokens_localbrms.testing import LocalBRMSServer

    with LocalBRMSServer(tmp_path / "brms.db", pat="admin-secret") as brms:
        demo = brms.seed()                       # project, release, staging + production
        token = brms.create_pat(["environments"])
        brms.add_fault(method="POST", route=REGENERATE_ROUTE, status=503, times=1)
        ...                                      # point the provider at brms.url
        brms.metrics()["connections"]["opened"]
        brms.wait_for_agent_poll()               # after a deploy: the Agent has loaded it
        httpx.post(brms.agent_url + f"/api/projects/{demo['projectKey']}/evaluate/shipping", ...)

The server is ``python -m gorules_tokens_localbrms serve`` started with the same interpreter
(``sys.executable``) on 127.0.0.1 and a free port; entering the context waits until
``GET /api/health`` answers 200. Leaving it terminates the process (then kills it).
Unless ``agent=False``, the same process runs an Agent listener on a second free port
(``agent_url``), polling the seeded deployment's storage every ``agent_poll_interval``
seconds (1 s here so tests stay quick; GoRules' default is 5 s).
This API is relied on by the provider tests and the demo: keep it stable.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Iterator

import httpx

# The folder this package is imported from (the repo's `localbrms/`, or site-packages): put
# first on the server's PYTHONPATH, so the subprocess runs this very copy from any working folder.
SOURCE_ROOT = Path(__file__).resolve().parent.parent

# Route templates, for fault rules and metrics look-ups.
PROJECTS_ROUTE = "/api/projects"
PROJECT_ROUTE = "/api/projects/{projectId}"
ENVIRONMENTS_ROUTE = "/api/projects/{projectId}/environments"
ENVIRONMENT_ROUTE = "/api/projects/{projectId}/environments/{environmentId}"
REGENERATE_ROUTE = "/api/projects/{projectId}/environments/{environmentId}/regenerate-token"
DEPLOY_ROUTE = "/api/projects/{projectId}/releases/deploy"
EVALUATE_ROUTE = "/api/projects/{projectId}/environments/{environmentId}/evaluate/{key}"
RULES_EVALUATE_ROUTE = "/api/rules/{projectId}/env/{environmentId}/evaluate/{key}"
# On the Agent listener (``agent_url``); ``{project}`` is the project key or id.
AGENT_EVALUATE_ROUTE = "/api/projects/{project}/evaluate/{key}"
AGENT_RULES_EVALUATE_ROUTE = "/api/rules/{project}/evaluate/{key}"
AGENT_TEST_POLL_INTERVAL_S = 1.0

_FAULT_KEYS = {"retry_after": "retryAfter", "delay_ms": "delayMs"}


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """SIGTERM (graceful), then SIGKILL if ``process`` has not exited after ``timeout`` s."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


class LocalBRMSError(RuntimeError):
    """The server did not start, or an admin call failed."""


class LocalBRMSServer:
    """A ``python -m gorules_tokens_localbrms serve`` subprocess with helpers for its admin API.

    Attributes: ``url`` (``http://127.0.0.1:PORT``, stable across :meth:`restart`),
    ``pat`` (admin token), ``db_path``, ``port``, ``log_path`` (server stdout/stderr),
    ``process`` (the ``subprocess.Popen`` while running).
    """

    def __init__(
        self,
        db_path: Path | str,
        pat: str | None = None,
        *,
        port: int = 0,
        log_path: Path | str | None = None,
        startup_timeout: float = 30.0,
        keep_alive: int = 5,
        log_level: str = "warning",
        agent: bool = True,
        agent_poll_interval: float = AGENT_TEST_POLL_INTERVAL_S,
    ) -> None:
        self.db_path = Path(db_path)
        self.pat = pat or f"localbrms-admin-{secrets.token_urlsafe(24)}"
        self.host = "127.0.0.1"
        self.port = port
        self.log_path = (
            Path(log_path) if log_path else self.db_path.with_name(self.db_path.name + ".server.log")
        )
        self.startup_timeout = startup_timeout
        self.keep_alive = keep_alive
        self.log_level = log_level
        self.process: subprocess.Popen[bytes] | None = None
        self._admin: httpx.Client | None = None
        self.agent = agent
        self.agent_poll_interval = agent_poll_interval
        self.agent_port = 0

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        if not self.port:
            raise LocalBRMSError("server not started")
        return f"http://{self.host}:{self.port}"

    @property
    def agent_url(self) -> str:
        """The Agent listener, ``http://127.0.0.1:PORT`` (stable across :meth:`restart`)."""
        if not self.agent_port:
            raise LocalBRMSError("no Agent listener (started with agent=False, or not started)")
        return f"http://{self.host}:{self.agent_port}"

    def __enter__(self) -> LocalBRMSServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalBRMSServer:
        """Launch the subprocess and block until ``/api/health`` answers 200."""
        if self.process is not None:
            raise LocalBRMSError("server already running")
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        port_file = self.db_path.with_name(f".{self.db_path.name}.port")
        port_file.unlink(missing_ok=True)
        agent_port_file = self.db_path.with_name(f".{self.db_path.name}.agent-port")
        agent_port_file.unlink(missing_ok=True)
        env = dict(os.environ)
        env["LOCALBRMS_PAT"] = self.pat  # not on the command line, so `ps` does not show it
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SOURCE_ROOT), env.get("PYTHONPATH")]))
        cmd = [
            sys.executable,
            "-m",
            "gorules_tokens_localbrms",
            "serve",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--db",
            str(self.db_path),
            "--port-file",
            str(port_file),
            "--keep-alive",
            str(self.keep_alive),
            "--log-level",
            self.log_level,
        ]
        if self.agent:
            cmd += [
                "--agent-port",
                str(self.agent_port),
                "--agent-port-file",
                str(agent_port_file),
                "--agent-poll-interval",
                str(self.agent_poll_interval),
            ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        try:
            self.port = self._wait_for_port(port_file)
            self._wait_for_health(self.url)
            if self.agent:
                self.agent_port = self._wait_for_port(agent_port_file)
                self._wait_for_health(self.agent_url)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate (SIGTERM, graceful), then kill if it does not exit in ``timeout`` s."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        process, self.process = self.process, None
        stop_process(process, timeout)

    def restart(self) -> None:
        """Stop and start again on the same port and database (``url`` stays valid)."""
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _wait_for_port(self, port_file: Path) -> int:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if port_file.exists():
                text = port_file.read_text().strip()
                if text:
                    return int(text)
            self._check_alive()
            time.sleep(0.02)
        raise LocalBRMSError(f"localbrms did not bind a port in {self.startup_timeout}s\n{self._log_tail()}")

    def _wait_for_health(self, base_url: str) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if httpx.get(f"{base_url}/api/health", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        raise LocalBRMSError(
            f"localbrms {base_url}/api/health not ready in {self.startup_timeout}s\n{self._log_tail()}"
        )

    def _check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise LocalBRMSError(f"localbrms exited with code {self.process.returncode}\n{self._log_tail()}")

    def _log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- admin API -----------------------------------------------------------------------

    def admin(self, method: str, path: str, json: Any = None) -> Any:
        """Call ``/_localbrms{path}`` with the admin PAT; returns the decoded JSON body."""
        if self._admin is None:
            self._admin = httpx.Client(
                base_url=self.url, timeout=30.0, headers={"Authorization": f"Bearer {self.pat}"}
            )
        response = self._admin.request(method, f"/_localbrms{path}", json=json)
        if response.status_code >= 300:
            raise LocalBRMSError(f"{method} /_localbrms{path} -> {response.status_code}: {response.text}")
        return response.json()

    def seed(self, project_key: str | None = None) -> dict[str, Any]:
        """Create a fresh demo project (or reuse ``project_key``); see README for the shape."""
        return self.admin("POST", "/seed", {"projectKey": project_key} if project_key else None)  # type: ignore[no-any-return]

    def create_pat(
        self, permissions: list[str], projects: list[str] | None = None, expires_at: str | None = None
    ) -> str:
        """A new PAT holding exactly ``permissions`` (optionally limited to ``projects``, expiring
        at ``expires_at``, ISO 8601)."""
        return str(self.create_pat_record(permissions, projects, expires_at)["token"])

    def create_pat_record(
        self, permissions: list[str], projects: list[str] | None = None, expires_at: str | None = None
    ) -> dict[str, Any]:
        """As :meth:`create_pat`, the whole answer: ``id``, ``token``, ``expiresAt``, …"""
        body: dict[str, Any] = {"permissions": list(permissions), "expiresAt": expires_at}
        if projects is not None:
            body["projects"] = list(projects)
        return self.admin("POST", "/pats", body)  # type: ignore[no-any-return]

    def admin_pat_id(self) -> str:
        """The id under which the admin PAT (``pat``) is listed."""
        return str(self.admin("GET", "/info")["adminPatId"])

    def set_pat_expiry(self, pat_id: str, expires_at: str | None) -> dict[str, Any]:
        """Seeds when a PAT expires (None: never); a past time expires it at once."""
        return self.admin("PUT", f"/pats/{pat_id}/expiry", {"expiresAt": expires_at})  # type: ignore[no-any-return]

    def metrics(self) -> dict[str, Any]:
        return self.admin("GET", "/metrics")  # type: ignore[no-any-return]

    def reset_metrics(self) -> None:
        self.admin("POST", "/metrics/reset")

    def request_count(
        self, method: str | None = None, route: str | None = None, status: int | None = None
    ) -> int:
        """Requests counted since the last reset, filtered by method/route template/status."""
        return sum(
            row["count"]
            for row in self.metrics()["requests"]["byRoute"]
            if (method is None or row["method"] == method)
            and (route is None or row["route"] == route)
            and (status is None or row["status"] == status)
        )

    def add_fault(self, **rule: Any) -> dict[str, Any]:
        """Add a fault rule; snake_case keys (``retry_after``, ``delay_ms``) are accepted."""
        body = {_FAULT_KEYS.get(k, k): v for k, v in rule.items()}
        return self.admin("POST", "/faults", body)  # type: ignore[no-any-return]

    def faults(self) -> list[dict[str, Any]]:
        return self.admin("GET", "/faults")  # type: ignore[no-any-return]

    def clear_faults(self) -> None:
        self.admin("DELETE", "/faults")

    def approve_change_request(self, change_request_id: str) -> dict[str, Any]:
        return self.admin("POST", f"/change-requests/{change_request_id}/approve")  # type: ignore[no-any-return]

    def set_deploy_mode(self, mode: str = "current", apply: bool = True) -> dict[str, Any]:
        """How ``POST /releases/deploy`` answers (see README "Deploy answers"); ``apply=False``
        answers without deploying or opening a change request."""
        return self.admin("PUT", "/deploy-mode", {"mode": mode, "apply": apply})  # type: ignore[no-any-return]

    def configure_deployment(
        self, provider: str, configuration: dict[str, Any] | None = None, name: str = "localbrms-agent"
    ) -> dict[str, Any]:
        """Point a Deployment (default: the one ``seed`` uses and the Agent listener serves) at
        ``provider`` ``aws_s3`` + ``configuration`` (bucket, path, endpoint, credentials...), or
        back at ``localbrms`` (SQLite). Returns it without the secret key."""
        return self.admin(  # type: ignore[no-any-return]
            "PUT", f"/deployments/{name}", {"provider": provider, "configuration": configuration or {}}
        )

    def set_approval_mode(self, project_id: str, environment_id: str, mode: str | None) -> dict[str, Any]:
        """Set an environment's ``approvalMode`` through the public API, as a BRMS admin would;
        returns the updated environment."""
        response = httpx.put(
            f"{self.url}{ENVIRONMENT_ROUTE.format(projectId=project_id, environmentId=environment_id)}",
            json={"approvalMode": mode}, headers={"Authorization": f"Bearer {self.pat}"}, timeout=10,
        )
        if response.status_code != 200:
            raise LocalBRMSError(f"PUT approvalMode of {environment_id} -> {response.status_code}: {response.text}")
        return response.json()  # type: ignore[no-any-return]

    # -- Agent listener ------------------------------------------------------------------

    def agent_status(self) -> dict[str, Any]:
        """``{pollInterval, pollsStarted, pollsCompleted, projects: [{key, projectId, releaseId}]}``."""
        response = httpx.get(
            f"{self.agent_url}/_localbrms/agent", headers={"Authorization": f"Bearer {self.pat}"}, timeout=10
        )
        if response.status_code != 200:
            raise LocalBRMSError(f"GET agent status -> {response.status_code}: {response.text}")
        return response.json()  # type: ignore[no-any-return]

    @contextlib.contextmanager
    def agent_held(self) -> Iterator[None]:
        """No scheduled Agent poll inside the block (one in progress finishes first), so what
        the Agent serves there is what it loaded before: no race with its poll timer."""
        self._agent_hold(True)
        try:
            yield
        finally:
            self._agent_hold(False)

    def _agent_hold(self, held: bool) -> None:
        response = httpx.post(f"{self.agent_url}/_localbrms/agent/hold", json={"held": held},
                              headers={"Authorization": f"Bearer {self.pat}"}, timeout=30)
        if response.status_code != 200:
            raise LocalBRMSError(f"POST agent hold -> {response.status_code}: {response.text}")

    def wait_for_agent_poll(self, timeout: float | None = None) -> None:
        """Block until the Agent finished a poll that started after this call (so it has
        loaded everything deployed before the call)."""
        target = self.agent_status()["pollsStarted"] + 1
        deadline = time.monotonic() + (timeout or self.agent_poll_interval * 3 + 10)
        while time.monotonic() < deadline:
            if self.agent_status()["pollsCompleted"] >= target:
                return
            time.sleep(min(0.05, self.agent_poll_interval / 4))
        raise LocalBRMSError("the Agent did not complete a poll in time")

    def agent_evaluate(
        self,
        project: str,
        token: str | None,
        key: str = "shipping",
        *,
        rules: bool = False,
        context: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """Evaluate ``key`` on the Agent (legacy route, or the Rules API with ``rules=True``)."""
        route = AGENT_RULES_EVALUATE_ROUTE if rules else AGENT_EVALUATE_ROUTE
        headers = {"X-Access-Token": token} if token is not None else {}
        body = {"context": context if context is not None else {"weight": 2, "country": "US"}}
        return httpx.post(
            self.agent_url + route.format(project=project, key=key), json=body, headers=headers, timeout=30
        )


def run_server(db_path: Path | str, pat: str | None = None, **kwargs: Any) -> LocalBRMSServer:
    """Start a server and return it (call ``.stop()``), for code that cannot use ``with``."""
    return LocalBRMSServer(db_path, pat, **kwargs).start()
