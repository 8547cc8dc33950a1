"""Pulumi dynamic provider for GoRules BRMS environment access tokens.

Public API: ``from gorules_tokens import EnvironmentToken``.
"""

from .resource import EnvironmentToken

__all__ = ["EnvironmentToken"]
