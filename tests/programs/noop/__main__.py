"""N no-op dynamic resources (config `noop:count`, `noop:value`)."""

import pulumi

from noop_provider import Noop

config = pulumi.Config()
count = config.get_int("count") or 1
value = config.get("value") or "v1"
resources = [Noop(f"noop-{i}", seq=i, value=value) for i in range(count)]
pulumi.export("count", len(resources))
pulumi.export("values", [r.value for r in resources])
