"""A consumer written before `TokenStackReference`: it reads the token through a plain
StackReference, writes its app's config file (the keys examples/consumer/app.py reads) and
exports no fingerprints, so only its update history shows when it last handed a token on."""

import json

import pulumi

config = pulumi.Config("gorules-consumer")
reference = pulumi.StackReference(config.require("tokenStack"))
entry = config.require("environment")


def write(values: list) -> int:
    tokens, urls = values
    if not pulumi.runtime.is_dry_run():
        with open(config.require("appConfigPath"), "w") as handle:
            json.dump({"apiUrl": urls[entry], "projectId": config.require("projectId"),
                       "environmentId": config.require("environmentId"), "decisionKey": "shipping",
                       "accessToken": tokens[entry]}, handle)
    return len(tokens[entry])


pulumi.export("length", pulumi.Output.unsecret(
    pulumi.Output.all(reference.require_output("accessTokens"), reference.require_output("brmsUrls")).apply(write)))
