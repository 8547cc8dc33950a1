"""The consumer stack: one app's configuration, fed by the token stack's secret output."""

import pulumi

from app_config import AppConfigFile
from gorules_tokens.consumer import TokenStackReference

config = pulumi.Config()
# AppConfigFile is a dynamic resource: its provider starts while a rollout holds this update.
tokens = TokenStackReference(config.require("tokenStack"), start_providers=["pulumi-python"])
environment = config.require("environment")

app_file = AppConfigFile(
    "app-config",
    path=config.require("appConfigPath"),
    settings={
        # The BRMS the token is valid on: set, or taken from the token stack (any instance).
        "apiUrl": config.get("apiUrl") or tokens.brms_url(environment),
        "projectId": config.require("projectId"),
        "environmentId": config.require("environmentId"),
        "decisionKey": config.get("decisionKey") or "shipping",
        # Stays secret end to end: the token stack's secret flag is kept.
        "accessToken": tokens.access_token(environment),
        # Agent-served environments: the token the Agents accept until they load the rotation's
        # redeploy (null otherwise). The app tries it when the current one gets a 401.
        "previousAccessToken": tokens.previous_access_token(environment),
        # Set for an Agent-served environment: the app evaluates on the Agent, not the BRMS.
        "agentUrl": config.get("agentUrl"),
    },
)

pulumi.export("appConfigPath", app_file.path)
# What the rollout checks: the fingerprint of the very token handed to the app above.
tokens.export_fingerprints()
