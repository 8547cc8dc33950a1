"""The stack config keys this package reads, and the check that refuses any other one.

A typo such as ``gorules:apiurl`` used to pass ``pulumi preview`` (the key is simply never
read) and fail the ``up`` for lack of a URL. Both namespaces belong to this package, so any
key in them that is not in :data:`KNOWN_KEYS` is a mistake: the token stack program and the
provider's ``check`` refuse it at preview, naming the nearest known key.

Standard library only, and below every layer that reads config (the provider, the token stack
program, the rollout), so all of them agree on one table.
"""

from __future__ import annotations

import difflib
from typing import Iterable, Mapping

PROVIDER_NAMESPACE = "gorules"  # the provider's settings (apiUrl, token, instances)
STACK_NAMESPACE = "gorules-tokens"  # the token stack's settings (environments, consumers)

# Namespace -> the keys read in it. A new setting is added here, or preview refuses it.
# tests/provider/test_config_keys.py fails when the code names a key this table lacks.
KNOWN_KEYS: Mapping[str, tuple[str, ...]] = {
    PROVIDER_NAMESPACE: ("apiUrl", "token", "instances", "patId"),
    STACK_NAMESPACE: ("environments", "environmentsFile", "consumers", "patWarnDays"),
}


def nearest_key(namespace: str, name: str) -> str | None:
    """The known key of ``namespace`` closest to ``name`` (case ignored), if any is close."""
    known = KNOWN_KEYS.get(namespace, ())
    by_lower = {key.lower(): key for key in known}
    match = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def unknown_key_problems(keys: Iterable[str]) -> list[str]:
    """One sentence per key of our namespaces that is not read, in key order.

    ``keys`` are full config keys (``namespace:name``) as the engine passes them; keys of
    other namespaces (``aws:region``, the user's own project) are none of our business.
    """
    problems = []
    for key in sorted(set(keys)):
        namespace, sep, name = key.partition(":")
        if not sep or namespace not in KNOWN_KEYS or name in KNOWN_KEYS[namespace]:
            continue
        shown = key if len(key) <= 80 else key[:77] + "..."
        nearest = nearest_key(namespace, name)
        if nearest is not None:
            hint = f"did you mean '{namespace}:{nearest}'?"
        else:
            hint = "known keys: " + ", ".join(f"{namespace}:{k}" for k in KNOWN_KEYS[namespace])
        problems.append(f"unknown config key '{shown}': {hint}")
    return problems
