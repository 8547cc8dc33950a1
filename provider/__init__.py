"""Pulumi dynamic provider for GoRules BRMS environment access tokens.

Public API: ``from provider import EnvironmentToken``.
"""

from .resource import EnvironmentToken

__all__ = ["EnvironmentToken"]
