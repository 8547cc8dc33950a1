"""A real S3-compatible server for the storage tests: Versity S3 Gateway (versitygw).

Why versitygw: it is a production S3 gateway (Apache-2.0) in Go, so it installs from the Go
module proxy like our engine (``scripts/install-versitygw.sh``, cached in
``~/.cache/gorules-tokens/versitygw/``), speaks SigV4, ListObjectsV2 with delimiters and MD5
ETags as AWS does, and starts in well under a second. MinIO's server is AGPL-3.0 (off limits
here) and moto's server is a mock, which users never run.

It runs with its POSIX backend on a folder of the test's, on 127.0.0.1 and a free port, with
credentials passed in its environment (never on its command line). A bucket is a folder;
``listing`` and ``archive`` read what localbrms wrote through boto3, as an Agent would.
"""

from __future__ import annotations

import functools
import os
import secrets
import socket
import subprocess
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from gorules_tokens_localbrms import release_zip
from gorules_tokens_localbrms.testing import stop_process

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALLER = REPO_ROOT / "scripts" / "install-versitygw.sh"
REGION = "us-east-1"
_PORT_ATTEMPTS = 3


class S3StartError(RuntimeError):
    """The server did not install or come up; the message carries the tail of its log."""


@functools.cache
def versitygw_binary() -> Path:
    """Install (or find) the pinned versitygw; waits for a build another process is running."""
    done = subprocess.run([str(INSTALLER)], capture_output=True, text=True, timeout=1200)
    if done.returncode != 0:
        raise S3StartError(f"installing versitygw failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class S3Server:
    """``versitygw posix ROOT`` on ``127.0.0.1:PORT``; ``with S3Server(dir) as s3: ...``."""

    def __init__(self, root: Path, startup_timeout: float = 20.0) -> None:
        self.root = Path(root)
        self.data = self.root / "data"
        self.log_path = self.root / "versitygw.log"
        self.access_key = "localbrms-test"
        self.secret_key = f"s3-test-{secrets.token_urlsafe(18)}"
        self.startup_timeout = startup_timeout
        self.port = 0
        self.startup_seconds: float | None = None  # spawn to first HTTP answer, last start
        self.process: subprocess.Popen[bytes] | None = None
        self._client: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> S3Server:
        binary = versitygw_binary()
        self.data.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VGW_", "ROOT_"))}
        env.update(ROOT_ACCESS_KEY_ID=self.access_key, ROOT_SECRET_ACCESS_KEY=self.secret_key)
        for _ in range(_PORT_ATTEMPTS):  # a free port can be taken between probe and bind
            self.port = _free_port()
            started = time.monotonic()
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    [str(binary), "--port", f"{HOST}:{self.port}", "--region", REGION, "--quiet",
                     "posix", str(self.data)],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                )
            if self._wait_ready():
                self.startup_seconds = time.monotonic() - started
                return self
        raise S3StartError(f"versitygw did not start on {HOST}\n{self._log_tail()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5) as sock:
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: s3\r\nConnection: close\r\n\r\n")
                    if sock.recv(12).startswith(b"HTTP/1."):
                        return True
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        return False

    def stop(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        stop_process(process, timeout)

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- reading and writing as a client -------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.session.Session().client(
                "s3", endpoint_url=self.endpoint, region_name=REGION,
                aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
            )
        return self._client

    def new_bucket(self, hint: str = "releases") -> str:
        name = f"{hint}-{uuid.uuid4().hex[:10]}"
        self.client.create_bucket(Bucket=name)
        return name

    def deployment_configuration(self, bucket: str, path: str | None = None) -> dict[str, Any]:
        """What GoRules' AWS S3 Deployment form takes, for this server and ``bucket``."""
        configuration: dict[str, Any] = {
            "bucket": bucket, "region": REGION, "endpoint": self.endpoint, "forcePathStyle": True,
            "accessKeyId": self.access_key, "secretAccessKey": self.secret_key,
        }
        if path is not None:
            configuration["path"] = path
        return configuration

    def listing(self, bucket: str) -> list[dict[str, Any]]:
        """Every object in the bucket (all folders): ``[{key, size, etag}]``, sorted by key."""
        found: list[dict[str, Any]] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            found += [{"key": o["Key"], "size": o["Size"], "etag": o["ETag"]} for o in page.get("Contents", [])]
        return sorted(found, key=lambda o: o["key"])

    def get(self, bucket: str, key: str) -> bytes:
        return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def archive(self, bucket: str, key: str) -> release_zip.ReleaseArchive:
        """The object read back as the Agent's loader reads a release zip."""
        return release_zip.read(self.get(bucket, key))
