"""Two GoRules environment access tokens owned by a platform team's own Pulumi program.

Set up (see README.md beside this file):

    pulumi config set gorules:apiUrl https://brms.example.com
    pulumi config set --secret gorules:token "$PAT"
    pulumi config set projectId <project uuid>
    pulumi config set stagingEnvironmentId <environment uuid>
    pulumi config set productionEnvironmentId <environment uuid>
    pulumi config set rotation 2026-12        # change it to rotate both tokens
"""

import pulumi
from gorules_tokens import EnvironmentToken

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

# access_token is always a secret output; fingerprints tell versions apart without it.
pulumi.export("tokens", {"staging": staging.access_token, "production": production.access_token})
pulumi.export("fingerprints", {"staging": staging.fingerprint, "production": production.fingerprint})
