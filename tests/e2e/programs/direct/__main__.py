"""Declares one EnvironmentToken with the `api_url` given in config, as a program may
compute it from another output."""

import pulumi

from gorules_tokens import EnvironmentToken

config = pulumi.Config()
token = EnvironmentToken(
    "direct",
    project_id=config.require("projectId"),
    environment_id=config.require("environmentId"),
    api_url=config.get("apiUrl"),
    instance=config.get("instance"),
)
pulumi.export("fingerprint", token.fingerprint)
