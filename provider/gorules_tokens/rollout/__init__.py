"""Rollout: rotate the token stack, then hand every consumer stack its new token.

Sits above the resource: it drives stacks through the Automation API and reads only what
stacks export (the token stack's outputs, each consumer's ``gorulesTokenFingerprints``),
never the provider's internals. ``python -m gorules_tokens`` and the ``gorules-tokens``
console script start it (see ``cli``).
"""
