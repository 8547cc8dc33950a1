"""Reads what the `file://` backend really wrote, for leak scans.

`pulumi stack export --show-secrets` would decrypt secrets, so leak tests look at the
raw files instead: the current checkpoint, every history entry, every backup, locks.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Iterable, Iterator


def backend_files(backend: Path) -> list[Path]:
    """Every file the backend holds (stacks, history, backups, locks, meta)."""
    return sorted(p for p in backend.rglob("*") if p.is_file())


def read_text(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace")


def stack_checkpoint(backend: Path, project: str, stack: str) -> dict:
    """The current checkpoint of one stack, parsed."""
    folder = backend / ".pulumi" / "stacks" / project
    for name in (f"{stack}.json", f"{stack}.json.gz"):
        if (folder / name).exists():
            return json.loads(read_text(folder / name))
    raise FileNotFoundError(f"no checkpoint for {project}/{stack} under {folder}")


def resources(checkpoint: dict) -> list[dict]:
    return checkpoint.get("checkpoint", {}).get("latest", {}).get("resources", []) or []


def history_files(backend: Path, project: str, stack: str) -> list[Path]:
    return sorted((backend / ".pulumi" / "history" / project / stack).glob("*"))


def backup_files(backend: Path, project: str, stack: str) -> list[Path]:
    return sorted((backend / ".pulumi" / "backups" / project / stack).glob("*"))


def find_plaintext(secrets: Iterable[str], files: Iterable[Path]) -> Iterator[tuple[Path, str]]:
    """Yields (file, secret prefix) for every secret found in clear in a file."""
    wanted = [s for s in secrets if s]
    for path in files:
        text = read_text(path)
        for secret in wanted:
            if secret in text:
                yield path, secret[:4] + "…"


def assert_no_plaintext(secrets: Iterable[str], files: Iterable[Path]) -> None:
    leaks = list(find_plaintext(list(secrets), list(files)))
    assert not leaks, f"secrets in plain text: {[(str(p), s) for p, s in leaks]}"
