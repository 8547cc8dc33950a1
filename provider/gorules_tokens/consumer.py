"""The consumer side of a rollout: read tokens from the token stack, say which ones you hold.

A consumer stack reads tokens through ``TokenStackReference`` instead of a bare
``StackReference``; each token it hands out is remembered, and ``export_fingerprints()``
exports ``gorulesTokenFingerprints`` (entry -> fingerprint) computed from those very values.
The rollout compares that map with the token stack's, so what a consumer claims to hold
cannot drift from what it actually passed on to its app::

    tokens = TokenStackReference("organization/gorules-tokens/prod", start_providers=["pulumi-python"])
    AppConfig("app", access_token=tokens.access_token("staging"))
    tokens.export_fingerprints()

An app of an Agent-served (``deployment``) environment gets ``previous_access_token`` too: the
token its Agents still accept until they load the redeployed release. Trying the current token
and, on a 401, the previous one keeps it served across that cut-over.
"""

from __future__ import annotations

from typing import Optional, Sequence

import pulumi

from .fingerprint import fingerprint
from .handoff import HandoffStopped, wait_for_release, will_wait
from .stack_outputs import ACCESS_TOKENS, BRMS_URLS, CONSUMER_FINGERPRINTS, PREVIOUS_ACCESS_TOKENS

# The engine's own invoke behind a StackReference: reads another stack's outputs, adds nothing.
READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"
# A function no provider has: invoking it makes the engine start the package's default provider,
# which then answers that it does not know it.
START_PROVIDER_FUNCTION = "index:gorulesTokensStartProvider"


class TokenStackReference:
    """The token stack, as one consumer stack reads it."""

    def __init__(self, name: str, opts: Optional[pulumi.ResourceOptions] = None, *,
                 start_providers: Sequence[str] = ()) -> None:
        """``start_providers``: the packages whose default providers the resources fed with a
        token use (``"pulumi-python"`` for a dynamic resource like the example's
        ``AppConfigFile``). A consumer a rollout started early starts them while it waits, so
        their process start is not part of its app's outage. Name only packages the stack uses
        anyway: a provider started this way is registered in the stack like any default one."""
        # Started early by a rollout, this update waits here, before the token stack is read,
        # until the rollout says the new tokens are written (gorules_tokens.handoff).
        if will_wait(pulumi.runtime.is_dry_run()):
            _warm_up(name, start_providers)
        try:
            wait_for_release(pulumi.runtime.is_dry_run())
        except HandoffStopped as exc:
            raise pulumi.RunError(str(exc)) from None
        self.reference = pulumi.StackReference(name, opts=opts)
        self._handed: dict[str, pulumi.Output[str]] = {}

    def access_token(self, entry: pulumi.Input[str]) -> pulumi.Output[str]:
        """The entry's token (secret, as in the token stack); remembered for the export.

        ``entry`` must be known when the program runs (a config value, not a resource's output),
        since it becomes a key of the exported map."""
        if not isinstance(entry, str):
            raise TypeError("TokenStackReference.access_token: entry must be a plain string (the entry's name)")
        token = self.reference.require_output(ACCESS_TOKENS).apply(lambda tokens: _pick(tokens, entry, ACCESS_TOKENS))
        self._handed[entry] = token
        return token

    def previous_access_token(self, entry: str) -> pulumi.Output[Optional[str]]:
        """The token the entry's Agents accept until their first poll after its last rotation
        (secret); None for a ``brms`` environment, before any rotation, or from a token stack
        of an earlier release, which does not export the map.

        Not part of ``gorulesTokenFingerprints``: a consumer is current when it holds the
        current token, whatever it holds beside it."""
        if not isinstance(entry, str):
            raise TypeError("TokenStackReference.previous_access_token: entry must be a plain string (the entry's name)")
        both = pulumi.Output.all(self.reference.require_output(ACCESS_TOKENS),
                                 self.reference.get_output(PREVIOUS_ACCESS_TOKENS))
        return pulumi.Output.secret(both.apply(lambda maps: _previous(maps[0], maps[1], entry)))

    def brms_url(self, entry: str) -> pulumi.Output[str]:
        """The URL of the BRMS the entry's token is valid on."""
        return self.reference.require_output(BRMS_URLS).apply(lambda urls: _pick(urls, entry, BRMS_URLS))

    def export_fingerprints(self) -> None:
        """Exports ``gorulesTokenFingerprints`` for every token handed out (not secret)."""
        pulumi.export(CONSUMER_FINGERPRINTS, {
            entry: pulumi.Output.unsecret(token.apply(fingerprint)) for entry, token in self._handed.items()
        })


def _warm_up(name: str, packages: Sequence[str]) -> None:
    """Does, while the old tokens are still live, the costly first-time work of the steps that
    follow the release; with many consumers released at once on few cores, that CPU would
    otherwise be spent while their apps hold a dead token.

    The CLI derives a stack's secrets key from the passphrase the first time it decrypts that
    stack (a deliberately slow key derivation, about 0.3 s of CPU) and keeps it for the process:
    one read of the token stack, dropped at once, leaves only a cheap decrypt for after the
    hand-off. A provider's plugin is a process of its own, started at its first use: an invoke
    of a function it does not have starts it, and the resources that follow reuse it (measured
    with the example consumer on 2 cores, medians of 3 runs, longest outage without → with:
    1 consumer 0.3 → 0.1 s, 4 at once 1.3 → 0.7 s, 8 at once 2.4 → 2.3 s)."""
    pulumi.runtime.invoke(READ_STACK_OUTPUTS, {"name": name})
    for package in packages:
        try:
            pulumi.runtime.invoke(f"{package}:{START_PROVIDER_FUNCTION}", {})
        except Exception:  # noqa: BLE001 - the answer is expected to be "no such function"
            pass  # started, or it could not start: the resource that uses it reports that


def _pick(values: dict, entry: str, output: str) -> str:
    if entry not in values:
        # Names the entry and the keys only, never a value: the map may hold tokens.
        raise KeyError(f"the token stack's {output} has no entry {entry!r} (entries: {', '.join(sorted(values))})")
    return values[entry]


def _previous(current: dict, previous: Optional[dict], entry: str) -> Optional[str]:
    _pick(current, entry, ACCESS_TOKENS)  # a misspelt entry fails as it does for access_token
    return (previous or {}).get(entry)
