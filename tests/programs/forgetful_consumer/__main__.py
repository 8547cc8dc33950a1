"""Reads staging's token but exports `gorulesTokenFingerprints` as `{}`: the rollout must not
call that `updated`, since nothing proves which token it handed on."""

import pulumi

from gorules_tokens.consumer import TokenStackReference

config = pulumi.Config("gorules-consumer")
tokens = TokenStackReference(config.require("tokenStack"))
pulumi.export("length", pulumi.Output.unsecret(tokens.access_token("staging")).apply(len))
pulumi.export("gorulesTokenFingerprints", {})
