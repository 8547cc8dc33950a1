"""Fails its `up` with the very token it read in the error text: what a careless consumer
program can do, and what `gorules-tokens rollout` must never print."""

import pulumi

from gorules_tokens.consumer import TokenStackReference

config = pulumi.Config()
tokens = TokenStackReference(config.require("tokenStack"))


def fail(token: str) -> str:
    if not pulumi.runtime.is_dry_run():
        raise RuntimeError(f"the app refused its token {token}")
    return token


pulumi.export("used", pulumi.Output.unsecret(tokens.access_token("staging").apply(fail)).apply(len))
tokens.export_fingerprints()
