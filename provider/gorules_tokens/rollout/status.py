"""Which consumers hold the current token of each entry they use: a pure comparison of
exported fingerprints, so ``status`` needs no program run, no BRMS call and no secret."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Mapping, Optional

from ..consumer_config import Consumer
from ..stack_outputs import TokenView

CURRENT = "current"
STALE = "stale"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class ConsumerState:
    """One consumer against the token stack: per entry it uses, current, stale or unknown."""

    consumer: Consumer
    entries: Mapping[str, str]
    exported: Optional[Mapping[str, str]]

    def _with(self, status: str) -> tuple[str, ...]:
        return tuple(entry for entry, found in self.entries.items() if found == status)

    @property
    def stale(self) -> tuple[str, ...]:
        return self._with(STALE)

    @property
    def unknown(self) -> tuple[str, ...]:
        return self._with(UNKNOWN)

    @property
    def status(self) -> str:
        """Stale beats unknown beats current: the worst of its entries."""
        return STALE if self.stale else UNKNOWN if self.unknown else CURRENT


def assess(consumer: Consumer, exported: Optional[Mapping[str, str]], tokens: Mapping[str, TokenView]) -> ConsumerState:
    """Compares what ``consumer`` exports with the token stack's fingerprints."""
    entries: dict[str, str] = {}
    for entry in consumer.entries(tokens):
        held = None if exported is None else exported.get(entry)
        token = tokens.get(entry)
        if held is None or token is None:
            entries[entry] = UNKNOWN
        else:
            entries[entry] = CURRENT if held == token.fingerprint else STALE
    return ConsumerState(consumer, entries, exported)
