"""EnvironmentToken resources as a user's program declares them, from config `tokens`:
a list of {name, dependsOn?: [names], and snake_case EnvironmentToken inputs}."""

import pulumi

from gorules_tokens import EnvironmentToken

tokens: dict[str, EnvironmentToken] = {}
for spec in pulumi.Config().get_object("tokens") or []:
    spec = dict(spec)
    name = spec.pop("name")
    after = [tokens[n] for n in spec.pop("dependsOn", [])]
    tokens[name] = EnvironmentToken(name, **spec, opts=pulumi.ResourceOptions(depends_on=after))

pulumi.export("accessTokens", pulumi.Output.secret({n: t.access_token for n, t in tokens.items()}))
pulumi.export("redeployStatus", {n: t.redeploy_status for n, t in tokens.items()})
