"""The consumer stack: one app's configuration, fed by the token stack's secret output."""

import pulumi

from app_config import AppConfigFile

config = pulumi.Config()
token_stack = pulumi.StackReference(config.require("tokenStack"))
environment = config.require("environment")

# Stays secret end to end: StackReference keeps the token stack's secret flag.
access_tokens = token_stack.require_output("accessTokens")
token = access_tokens.apply(lambda tokens: tokens[environment])

app_file = AppConfigFile(
    "app-config",
    path=config.require("appConfigPath"),
    settings={
        # The BRMS the token is valid on: set, or taken from the token stack (any instance).
        "apiUrl": config.get("apiUrl") or token_stack.require_output("brmsUrls").apply(lambda urls: urls[environment]),
        "projectId": config.require("projectId"),
        "environmentId": config.require("environmentId"),
        "decisionKey": config.get("decisionKey") or "shipping",
        "accessToken": token,
    },
)

pulumi.export("appConfigPath", app_file.path)
pulumi.export("tokenFingerprint", token_stack.require_output("fingerprints").apply(lambda f: f[environment]))
