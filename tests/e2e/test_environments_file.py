"""`gorules-tokens:environmentsFile` through the real engine: moving the entries from the stack
config into a file is no change at all, and a bad file entry fails the preview by name."""

from __future__ import annotations

import json

import pytest
import yaml
from pulumi import automation as auto

from support.brms import config_entry, requests_made
from support.plans import assert_empty_plan

pytestmark = pytest.mark.engine

FILE_KEY = "gorules-tokens:environmentsFile"


def test_moving_the_entries_into_a_file_changes_no_urn_and_rotates_nothing(token_stack, seeded, brms) -> None:
    entries = [config_entry(seeded, "staging", rotateAfter="30d"), config_entry(seeded, "production", redeploy=False)]
    ts = token_stack(entries)
    ts.up()
    before = ts.fingerprints()
    urns = sorted(r["urn"] for r in ts.stack.export_stack().deployment["resources"])

    (ts.work_dir / "config").mkdir()
    (ts.work_dir / "config" / "environments.yaml").write_text(yaml.safe_dump(entries, sort_keys=False))
    ts.stack.remove_config("gorules-tokens:environments")
    ts.stack.set_config(FILE_KEY, auto.ConfigValue("config/environments.yaml"))
    brms.reset_metrics()
    assert_empty_plan(ts.stack)  # `pulumi preview --expect-no-changes`
    assert requests_made(brms) == 0

    ts.up()  # and an `up` from the file is a no-op too
    assert ts.fingerprints() == before
    assert sorted(r["urn"] for r in ts.stack.export_stack().deployment["resources"]) == urns
    assert requests_made(brms, "regenerate-token") == 0


def test_a_bad_file_entry_fails_the_preview_naming_the_file_and_the_entry(token_stack, seeded, brms) -> None:
    ts = token_stack([])
    ts.stack.remove_config("gorules-tokens:environments")
    broken = {"name": "broken", "projectId": seeded["projectId"], "environmentId": "nope"}
    (ts.work_dir / "envs.json").write_text(json.dumps([config_entry(seeded, "staging"), broken]))
    ts.stack.set_config(FILE_KEY, auto.ConfigValue("envs.json"))
    brms.reset_metrics()
    with pytest.raises(auto.errors.CommandError) as caught:
        ts.preview()
    message = str(caught.value)
    assert "invalid environments file 'envs.json':" in message
    assert "envs.json[1] ('broken'): field 'environmentId': must be a UUID" in message
    assert "Traceback" not in message
    assert requests_made(brms) == 0


def test_the_list_and_the_file_at_once_fail_the_preview(token_stack, seeded, brms) -> None:
    ts = token_stack([config_entry(seeded, "staging")])
    (ts.work_dir / "envs.yaml").write_text("[]\n")
    ts.stack.set_config(FILE_KEY, auto.ConfigValue("envs.yaml"))
    brms.reset_metrics()
    with pytest.raises(auto.errors.CommandError, match="are both set"):
        ts.preview()
    assert requests_made(brms) == 0
