"""A consumer that holds its `up` until the file `holdUntil` exists (or forever): the rollout's
interrupt and --consumer-timeout tests stop it mid-update. It hands nothing to any app; it
exports the fingerprint of what it read, as every rollout consumer does."""

import os
import time

import pulumi

from gorules_tokens.consumer import TokenStackReference

config = pulumi.Config()
tokens = TokenStackReference(config.require("tokenStack"))
hold = config.require("holdUntil")


def held(token: str) -> str:
    if not pulumi.runtime.is_dry_run():
        started = os.path.join(os.path.dirname(hold), "started")
        open(started, "w").close()
        while not os.path.exists(hold):
            time.sleep(0.05)
    return token


pulumi.export("length", pulumi.Output.unsecret(tokens.access_token("staging").apply(held)).apply(len))
tokens.export_fingerprints()
