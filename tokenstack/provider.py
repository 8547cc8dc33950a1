"""The provider of the token stack's resources: the dynamic provider, given only `gorules:*`.

The engine configures the *default* provider of Python dynamic resources with the whole
stack config (`GetPackageConfig` in the engine's `resource/deploy/target.go` passes every key
to dynamic providers) and stores it twice, as that provider's inputs and outputs. For this
stack that is a copy of the whole `gorules-tokens:environments` list, about 350 bytes per
token, rewritten at every checkpoint of every operation (issue 18: 9 % of the state at
N = 300). The program declares that provider itself instead, with the three settings the
provider reads (`ProviderConfig.from_config`), each as the engine passed it: raw text (JSON
for `gorules:instances`), secret where the stack config is secret, absent when unset (the
`GORULES_*` variables still apply in the provider process).

It is named `default`, so its URN is the one the engine gave the default provider: states
written before keep their provider reference (the first `up` updates the provider's inputs
in place, under the same id), and the engine keeps treating it as a default provider (the
engine's `providers.IsDefaultProvider` goes by that name: not shown in previews, not counted as
a change), exactly as before. tests/compat/ replays a 0.1.0 state through it.
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi
from pulumi.runtime.config import is_config_secret

from gorules_tokens.config import CONFIG_TOKEN_KEY, CONFIG_URL_KEY
from gorules_tokens.instances import INSTANCES_KEY

PACKAGE = "pulumi-python"  # the package of every Python dynamic resource
NAME = "default"  # the engine's name for the default provider (see above)
SETTINGS = (CONFIG_URL_KEY, CONFIG_TOKEN_KEY, INSTANCES_KEY)


def _setting(key: str) -> Optional[pulumi.Input[Any]]:
    namespace, name = key.split(":", 1)
    config = pulumi.Config(namespace)
    return config.get_secret(name) if is_config_secret(key) else config.get(name)


def token_provider() -> pulumi.ProviderResource:
    """The one provider every token of the stack uses."""
    settings = {key: value for key in SETTINGS if (value := _setting(key)) is not None}
    return pulumi.ProviderResource(PACKAGE, NAME, settings)
