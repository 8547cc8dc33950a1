"""bench kind same_state: one SameStateToken per entry of the token stack's environments list
(`gorules-tokens:environments`, or the file `gorules-tokens:environmentsFile` names), the same
explicit `default` provider with the same settings, and the same six stack outputs."""

import json
from pathlib import Path

import pulumi

from same_state_provider import STACK_OUTPUTS, SameStateToken

config = pulumi.Config("gorules-tokens")
gorules = pulumi.Config("gorules")
listed = config.get("environmentsFile")
entries = json.loads((Path(pulumi.get_root_directory()) / listed).read_text()) if listed else (
    config.get_object("environments") or [])
provider = pulumi.ProviderResource("pulumi-python", "default", {
    "gorules:apiUrl": gorules.get("apiUrl"), "gorules:token": gorules.get_secret("token")})
tokens = {}
for entry in entries:
    tokens[entry["name"]] = SameStateToken(entry["name"], project_id=entry["projectId"],
                                           environment_id=entry["environmentId"], keepers=entry.get("keepers"),
                                           opts=pulumi.ResourceOptions(provider=provider))
for name, attribute, secret in STACK_OUTPUTS:
    value = {n: getattr(t, attribute) for n, t in tokens.items()}
    pulumi.export(name, pulumi.Output.secret(value) if secret else value)
