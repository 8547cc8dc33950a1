"""An app's stack, a consumer of the token stack in the folder above.

Set up (see ../README.md):

    pulumi config set tokenStack organization/my-platform/dev   # the token stack, as StackReference names it
    pulumi config set entry staging                             # which token the app uses (default: staging)

The app reads its settings from this stack's outputs (`pulumi stack output accessToken
--show-secrets`). `gorules-tokens rollout` in the token project runs this stack after a
rotation, and checks the fingerprint it exports against the live token.
"""

import pulumi
from gorules_tokens.consumer import TokenStackReference

config = pulumi.Config()
tokens = TokenStackReference(config.require("tokenStack"))
entry = config.get("entry") or "staging"

pulumi.export("apiUrl", tokens.brms_url(entry))
pulumi.export("accessToken", tokens.access_token(entry))  # stays secret, as in the token stack
# What the rollout checks: the fingerprint of the very token handed on above.
tokens.export_fingerprints()
