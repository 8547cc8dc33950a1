"""Two GoRules environment access tokens owned by a platform team's own Pulumi program.

Set up (see README.md beside this file):

    pulumi config set gorules:apiUrl https://brms.example.com
    pulumi config set --secret gorules:token "$PAT"
    pulumi config set projectId <project uuid>
    pulumi config set stagingEnvironmentId <environment uuid>
    pulumi config set productionEnvironmentId <environment uuid>
    pulumi config set rotation 2026-12        # change it to rotate both tokens

The outputs are the ones `gorules-tokens rollout` and `TokenStackReference` read
(`accessTokens`, `fingerprints`, `rotatedAt`, `nextRotationAt`, `brmsUrls`, ...: maps by entry
name), written by one call; `consumer/` is a stack that reads them.
"""

import pulumi
from gorules_tokens import EnvironmentToken, export_token_stack_outputs

config = pulumi.Config()
project_id = config.require("projectId")
rotation = config.get("rotation") or "initial"

staging = EnvironmentToken(
    "staging",
    project_id=project_id,
    environment_id=config.require("stagingEnvironmentId"),
    keepers={"rotation": rotation},
    revoke_on_delete=True,
)
production = EnvironmentToken(
    "production",
    project_id=project_id,
    environment_id=config.require("productionEnvironmentId"),
    keepers={"rotation": rotation},
    rotate_after="30d",
)

# The token stack's outputs, maps by entry name: accessTokens (secret), fingerprints (tell
# versions apart without the secret), rotatedAt, nextRotationAt, brmsUrls, ...
export_token_stack_outputs({"staging": staging, "production": production})
