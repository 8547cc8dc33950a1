"""Invalid stack config fails `pulumi preview` with the entry and field named, and no
token is touched."""

from __future__ import annotations

import pytest
from pulumi import automation as auto

from gorules_tokens.schedule import next_rotation_at
from support.brms import config_entry, env_by_name, quiet, requests_made
from support.plans import unknown_outputs

pytestmark = pytest.mark.engine


def test_invalid_entry_fails_preview_naming_entry_and_field(token_stack, seeded, brms) -> None:
    staging = env_by_name(seeded, "staging")
    ts = token_stack([
        {"name": "staging", "projectId": seeded["projectId"], "environmentId": staging["id"]},
        {"name": "broken", "projectId": seeded["projectId"], "environmentId": "nope", "rotateAfter": "-5d"},
    ])
    brms.reset_metrics()
    with pytest.raises(auto.errors.CommandError) as caught:
        ts.preview()
    message = str(caught.value)
    assert "environments[1] ('broken'): field 'environmentId': must be a UUID" in message
    assert "environments[1] ('broken'): field 'rotateAfter'" in message
    assert "Traceback" not in message
    assert requests_made(brms) == 0


def test_stack_outputs_have_the_documented_shape(token_stack, seeded, brms) -> None:
    staging = env_by_name(seeded, "staging")
    ts = token_stack([
        {"name": "staging", "projectId": seeded["projectId"], "environmentId": staging["id"], "rotateAfter": "30d"},
    ])
    ts.up()
    outputs = ts.stack.outputs()
    assert set(outputs) == {"accessTokens", "previousAccessTokens", "fingerprints", "rotatedAt", "nextRotationAt",
                            "brmsUrls", "environmentTypes"}
    assert outputs["accessTokens"].secret and set(outputs["accessTokens"].value) == {"staging"}
    assert outputs["previousAccessTokens"].secret
    for plain in ("fingerprints", "rotatedAt", "nextRotationAt", "brmsUrls", "environmentTypes"):
        assert not outputs[plain].secret, plain
        assert set(outputs[plain].value) == {"staging"}
    assert outputs["brmsUrls"].value == {"staging": brms.url}
    assert outputs["fingerprints"].value["staging"].startswith("sha256:")


def test_a_no_change_preview_shows_no_unknown_output(token_stack, seeded, brms) -> None:
    # Without rotateAfter the stored nextRotationAt is null, which the SDK turned into
    # [unknown] in every preview (0.2.0 too); with it, a timestamp.
    ts = token_stack([config_entry(seeded, "staging"), config_entry(seeded, "production", rotateAfter="30d")])
    ts.up(settled=False)  # the plan is checked here, by this test's own assertions
    events: list = []
    ts.stack.preview(expect_no_changes=True, on_output=quiet, on_event=events.append)
    assert unknown_outputs(events) == []
    outputs = ts.masked_outputs()
    assert outputs["nextRotationAt"]["staging"] is None
    assert outputs["nextRotationAt"]["production"] == next_rotation_at(outputs["rotatedAt"]["production"], "30d")
