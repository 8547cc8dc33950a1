"""The PAT permission vocabulary (kept free of web imports so the CLI stays light)."""

from __future__ import annotations

# The PAT permission enum GoRules documents.
PERMISSIONS: frozenset[str] = frozenset(
    {
        "owner",
        "documents",
        "releases",
        "releases:manage",
        "releases:deploy",
        "releases:delete",
        "integrations:manage",
        "documents:full",
        "documents:view-content",
        "documents:edit-content",
        "documents:edit-view",
        "branches",
        "branches:create",
        "branches:merge",
        "branches:delete",
        "project:manage",
        "environments",
        "environments:manage",
        "environments:delete",
    }
)

# Inference (not documented): a "manage"/"delete" grant includes viewing.
IMPLIES: dict[str, frozenset[str]] = {
    "environments:manage": frozenset({"environments"}),
    "environments:delete": frozenset({"environments"}),
    "releases:manage": frozenset({"releases"}),
    "releases:deploy": frozenset({"releases"}),
    "releases:delete": frozenset({"releases"}),
}
