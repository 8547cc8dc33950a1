"""The release zip: what BRMS writes to a Deployment's storage and what an Agent reads back.

Layout (read from the GoRules Agent's loader, ``src/immutable_loader.rs`` at v1.26.0):

* one entry per decision, named by its path inside the project (``shipping``,
  ``pricing/tiers``); the Agent lower-cases the name and looks decisions up by that exact
  path, so an entry ``shipping.json`` is not the decision ``shipping``;
* ``.config/project.json``: ``{version?, project{id, key}, accessTokens[], release{id,
  version}}`` (plus fields the Agent ignores, such as ``environment``). If it is missing or
  does not have that shape the Agent serves the project **without** checking tokens;
* entries under ``.config/``, folders, and JSON files that are not a decision graph are
  skipped; an entry that is not JSON at all makes the whole zip fail to load.

:func:`read` applies those rules, so the Agent listener and the tests read a zip as an Agent
would; :func:`build` writes one as localbrms's deploy does.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

CONFIG_ENTRY = ".config/project.json"
CONFIG_FOLDER = ".config"
# Entries carry a fixed timestamp, so the same release and tokens give the same bytes (and
# the same ETag), as a storage poll expects of an unchanged object.
_ENTRY_TIME = (2020, 1, 1, 0, 0, 0)


class ReleaseZipError(ValueError):
    """The zip cannot be loaded (not a zip, or an entry that is not JSON)."""


@dataclass(frozen=True)
class ReleaseData:
    """The part of ``.config/project.json`` the Agent reads; present only if well-formed."""

    project_id: str
    project_key: str
    release_id: str
    release_version: str
    access_tokens: tuple[str, ...]
    raw: Mapping[str, Any] = field(repr=False)  # the whole file, for the Rules API's ``meta``

    def __repr__(self) -> str:  # never the tokens
        return f"ReleaseData(project={self.project_key!r}, release={self.release_id!r})"


@dataclass(frozen=True)
class ReleaseArchive:
    """A loaded zip: decisions by lower-cased path, and the release data if well-formed."""

    decisions: Mapping[str, dict[str, Any]]
    release_data: ReleaseData | None

    def can_access(self, token: str | None) -> bool:
        """The Agent's rule: no (valid) project config means no token check at all."""
        if self.release_data is None:
            return True
        return (token or "") in self.release_data.access_tokens


def build(config: Mapping[str, Any], decisions: Mapping[str, Any]) -> bytes:
    """A release zip: ``decisions`` maps each decision path to its JDM (dict or JSON text)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(decisions):
            content = decisions[path]
            text = content if isinstance(content, str) else json.dumps(content)
            archive.writestr(_entry(path), text)
        archive.writestr(_entry(CONFIG_ENTRY), json.dumps(config))
    return buffer.getvalue()


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ENTRY_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def read(data: bytes) -> ReleaseArchive:
    """Load a zip as the Agent does; raises :class:`ReleaseZipError` where the Agent skips it."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ReleaseZipError(f"not a zip archive: {exc}") from None
    with archive:
        release_data = _release_data(archive)
        decisions: dict[str, dict[str, Any]] = {}
        for info in archive.infolist():
            if info.is_dir() or _under_config(info.filename):
                continue
            name = info.filename.lower()
            try:
                content = json.loads(archive.read(info))
            except (ValueError, UnicodeDecodeError):
                raise ReleaseZipError(f"entry {name!r} is not JSON") from None
            if _is_graph(content):
                decisions[name] = content
    return ReleaseArchive(decisions=decisions, release_data=release_data)


def _under_config(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return bool(parts) and parts[0] == CONFIG_FOLDER


def _is_graph(content: Any) -> bool:
    """A decision graph has node and edge lists; anything else is an unknown file, skipped."""
    return isinstance(content, dict) and isinstance(content.get("nodes"), list) and isinstance(
        content.get("edges"), list
    )


def _release_data(archive: zipfile.ZipFile) -> ReleaseData | None:
    try:
        raw = json.loads(archive.read(CONFIG_ENTRY))
    except (KeyError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(raw, dict):
        return None
    project, release = raw.get("project"), raw.get("release")
    tokens = raw.get("accessTokens", [])
    version = raw.get("version")
    if not (isinstance(project, dict) and isinstance(release, dict) and isinstance(tokens, list)):
        return None
    fields = (project.get("id"), project.get("key"), release.get("id"), release.get("version"))
    if not all(isinstance(f, str) for f in fields) or not all(isinstance(t, str) for t in tokens):
        return None
    if version is not None and not isinstance(version, str):
        return None
    return ReleaseData(
        project_id=fields[0], project_key=fields[1], release_id=fields[2], release_version=fields[3],
        access_tokens=tuple(tokens), raw=raw,
    )
