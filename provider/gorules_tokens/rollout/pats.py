"""The PATs' expiry, as a rollout sees it: read once per run (the rollout holds the PATs: it
decrypts the token stack's config for them, and registers each with the scrubber at once), a
warning when fewer than ``gorules-tokens:patWarnDays`` days are left, a refusal to rotate
anything with an expired or refused PAT, and the last reading kept beside the project
(``.gorules-tokens/``) so that ``status`` shows it without reading a secret."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from ..errors import register_secret
from ..instances import INSTANCES_KEY, parse_instances
from ..pat_expiry import PAT_WARN_DAYS_KEY, PatExpiry, pat_warn_days, pat_warnings, read_pat_expiries
from .workdir import state_file

API_URL_KEY, TOKEN_KEY, PAT_ID_KEY = "gorules:apiUrl", "gorules:token", "gorules:patId"


@dataclass
class PatReading:
    records: list[PatExpiry]
    warn_days: int

    @property
    def warnings(self) -> list[str]:
        return [f"the PAT of {r.label} expires {r.expires_at} ({r.days_left:.0f} days left; "
                f"{PAT_WARN_DAYS_KEY} is {self.warn_days})"
                for r in pat_warnings(self.records, self.warn_days) if not r.expired]

    @property
    def blocking(self) -> list[str]:
        """Why no regenerate may start: an expired PAT, or one the BRMS refuses."""
        return [f"the PAT of {r.label} expired {r.expires_at}" if r.expired else
                f"the BRMS at {r.url} refuses the PAT of {r.label} (HTTP 401): renew it"
                for r in self.records if r.expired or r.refused]

    def as_json(self) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.records]


def _value(config: dict[str, Any], key: str) -> Any:
    entry = config.get(key)
    if not isinstance(entry, dict):
        return None
    return entry["objectValue"] if "objectValue" in entry else entry.get("value")


def _register(value: Any) -> None:
    if isinstance(value, str):
        register_secret(value)
    elif isinstance(value, dict):
        for item in value.values():
            _register(item)


def read(config: dict[str, Any]) -> PatReading:
    """From the token stack's decrypted config (``pulumi config --json --show-secrets``)."""
    for key, entry in config.items():
        if key.startswith("gorules:") and isinstance(entry, dict) and entry.get("secret"):
            _register(_value(config, key))
    instances = parse_instances(_value(config, API_URL_KEY), _value(config, TOKEN_KEY),
                                _value(config, INSTANCES_KEY), pat_id=_value(config, PAT_ID_KEY))
    return PatReading(read_pat_expiries(instances), pat_warn_days(_value(config, PAT_WARN_DAYS_KEY)))


def record(project: Path, stack: str, reading: PatReading) -> None:
    state_file(project, stack, "pats.json").write_text(json.dumps({
        "readAt": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "warnDays": reading.warn_days,
        "pats": reading.as_json()}, indent=2) + "\n")


def last_recorded(project: Path, stack: str) -> Optional[dict[str, Any]]:
    path = state_file(project, stack, "pats.json", create=False)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
