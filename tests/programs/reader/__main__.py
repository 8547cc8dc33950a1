"""Re-exports `greeting` and `token` of the stack named by `reader:source` (StackReference)."""

import pulumi

source = pulumi.StackReference(pulumi.Config().require("source"))
pulumi.export("greeting", source.require_output("greeting"))
pulumi.export("token", source.require_output("token"))
