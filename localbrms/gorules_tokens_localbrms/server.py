"""Run the app under uvicorn with connection tracking, and announce the bound port.

``--port 0`` binds a free port; once the server accepts connections we print
``localbrms listening on http://HOST:PORT`` and, if asked, write the port to a file
(atomically, so a reader never sees a partial number).

With ``agent_port`` set, an Agent listener (:mod:`gorules_tokens_localbrms.agent_app`) runs next to it on
its own port, in a thread of the same process: it is another service to its clients (own
port, own routes and errors) and shares only the SQLite file, as a real Agent shares only
the storage BRMS writes to. It is announced as ``localbrms agent listening on ...``.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from gorules_tokens_localbrms.agent import DEFAULT_POLL_INTERVAL_S, AgentState
from gorules_tokens_localbrms.agent_app import create_agent_app
from gorules_tokens_localbrms.app import create_app
from gorules_tokens_localbrms.connections import ConnectionTracker, tracked_protocol
from gorules_tokens_localbrms.repo import deployments
from gorules_tokens_localbrms.store import Store

log = logging.getLogger("localbrms")


class _AnnouncingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, port_file: Path | None, label: str = "localbrms") -> None:
        super().__init__(config)
        self.port_file = port_file
        self.label = label

    async def startup(self, sockets: list | None = None) -> None:  # type: ignore[type-arg]
        await super().startup(sockets=sockets)
        if not self.started:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        if self.port_file is not None:
            _write_atomic(self.port_file, f"{port}\n")
        print(f"{self.label} listening on http://{host}:{port}", flush=True)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def serve(
    host: str,
    port: int,
    db: Path,
    pat: str,
    port_file: Path | None = None,
    log_level: str = "warning",
    keep_alive_s: int = 5,
    agent: AgentOptions | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM (graceful: open requests get up to 5 s)."""
    tracker = ConnectionTracker()
    app = create_app(db, pat, tracker)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=tracked_protocol(tracker),
        ws="none",
        lifespan="on",
        log_level=log_level,
        access_log=log_level in ("debug", "info"),
        timeout_keep_alive=keep_alive_s,
        timeout_graceful_shutdown=5,
        server_header=False,
    )
    server = _AnnouncingServer(config, port_file)
    agent_server = _start_agent(host, db, pat, agent, log_level) if agent is not None else None
    try:
        server.run()
    finally:
        if agent_server is not None:
            agent_server.should_exit = True
    if not server.started:
        sys.exit(3)


@dataclass(frozen=True)
class AgentOptions:
    """The Agent listener: its port, where to announce it, its poll interval and storage."""

    port: int
    port_file: Path | None = None
    poll_interval: float = DEFAULT_POLL_INTERVAL_S
    deployment: str = deployments.DEFAULT_NAME


def _start_agent(host: str, db: Path, pat: str, options: AgentOptions, log_level: str) -> uvicorn.Server:
    """Run the Agent app in a daemon thread (uvicorn only handles signals in the main thread)."""
    state = AgentState(Store(db), options.deployment, options.poll_interval)
    config = uvicorn.Config(
        create_agent_app(state, pat),
        host=host,
        port=options.port,
        ws="none",
        lifespan="on",
        log_level=log_level,
        access_log=log_level in ("debug", "info"),
        server_header=False,
    )
    server = _AnnouncingServer(config, options.port_file, label="localbrms agent")
    threading.Thread(target=server.run, name="agent-listener", daemon=True).start()
    return server
