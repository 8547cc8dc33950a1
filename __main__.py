"""The token stack: one EnvironmentToken per configured environment (provider in progress)."""

import pulumi

pulumi.export("project", pulumi.get_project())
