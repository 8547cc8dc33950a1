"""Run the app under uvicorn with connection tracking, and announce the bound port.

``--port 0`` binds a free port; once the server accepts connections we print
``localbrms listening on http://HOST:PORT`` and, if asked, write the port to a file
(atomically, so a reader never sees a partial number).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

import uvicorn

from localbrms.app import create_app
from localbrms.connections import ConnectionTracker, tracked_protocol

log = logging.getLogger("localbrms")


class _AnnouncingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, port_file: Path | None) -> None:
        super().__init__(config)
        self.port_file = port_file

    async def startup(self, sockets: list | None = None) -> None:  # type: ignore[type-arg]
        await super().startup(sockets=sockets)
        if not self.started:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        if self.port_file is not None:
            _write_atomic(self.port_file, f"{port}\n")
        print(f"localbrms listening on http://{host}:{port}", flush=True)


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
    server.run()
    if not server.started:
        sys.exit(3)
