"""Pulumi dynamic provider for GoRules BRMS environment access tokens.

Public API: ``from gorules_tokens import EnvironmentToken``, and the errors it raises, one tree
under ``GoRulesTokensError`` (see ``gorules_tokens.errors`` and ``provider/README.md``).
"""

from .claims import DuplicateEnvironmentError
from .durations import DurationError
from .errors import BrmsError, ConfigError, GoRulesTokensError, InvalidValueError
from .fields import FieldError
from .inputs import InputError
from .instances import UnconfiguredBrms
from .resource import EnvironmentToken
from .stack_outputs import export_token_stack_outputs

__all__ = [
    "BrmsError",
    "ConfigError",
    "DuplicateEnvironmentError",
    "DurationError",
    "EnvironmentToken",
    "FieldError",
    "GoRulesTokensError",
    "InputError",
    "InvalidValueError",
    "UnconfiguredBrms",
    "export_token_stack_outputs",
]
