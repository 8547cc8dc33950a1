"""`gorules-tokens:environmentsFile`: the same entries as the inline list, read from YAML or
JSON, with errors that name the file and the entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tokenstack.config import StackConfigError, parse_environments
from tokenstack.environments_file import environments_source

P = "3f1c2a9e-0000-4000-8000-000000000001"
E = "3f1c2a9e-0000-4000-8000-000000000002"
E2 = "3f1c2a9e-0000-4000-8000-000000000003"
ENTRIES = [
    {"name": "staging", "projectId": P, "environmentId": E, "rotateAfter": "30d", "keepers": {"v": "1"}},
    {"name": "production", "projectId": P, "environmentId": E2, "redeploy": False, "aliases": ["prod"]},
]
YAML_TEXT = f"""\
- name: staging
  projectId: {P}
  environmentId: {E}
  rotateAfter: 30d
  keepers:
    v: "1"
- name: production
  projectId: {P}
  environmentId: {E2}
  redeploy: false
  aliases: [prod]
"""


def entries_from(tmp_path: Path, name: str, text: str) -> list:
    (tmp_path / name).write_text(text)
    source = environments_source(None, name, tmp_path)
    return parse_environments(source.raw, None, source.label)


@pytest.mark.parametrize("name, text", [("envs.yaml", YAML_TEXT), ("envs.yml", YAML_TEXT),
                                        ("envs.json", json.dumps(ENTRIES, indent=2))])
def test_a_file_gives_exactly_the_entries_of_the_inline_list(tmp_path: Path, name: str, text: str) -> None:
    assert entries_from(tmp_path, name, text) == parse_environments(ENTRIES)


def test_the_path_is_relative_to_the_project_folder_and_may_be_absolute(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    target = tmp_path / "config" / "envs.json"
    target.write_text(json.dumps(ENTRIES))
    assert environments_source(None, "config/envs.json", tmp_path).raw == ENTRIES
    assert environments_source(None, str(target), tmp_path / "elsewhere").raw == ENTRIES


def test_errors_name_the_file_and_the_entry(tmp_path: Path) -> None:
    bad = [ENTRIES[0], {"name": "broken", "projectId": P, "environmentId": "nope", "rotateAfter": "-5d"}]
    with pytest.raises(StackConfigError) as caught:
        entries_from(tmp_path, "envs.json", json.dumps(bad))
    message = str(caught.value)
    assert message.startswith("invalid environments file 'envs.json':")
    assert "envs.json[1] ('broken'): field 'environmentId': must be a UUID" in message
    assert "envs.json[1] ('broken'): field 'rotateAfter'" in message


def test_duplicates_across_entries_are_refused_as_inline(tmp_path: Path) -> None:
    twice = [ENTRIES[0], {**ENTRIES[0], "name": "again"}]
    with pytest.raises(StackConfigError, match=r"envs.yaml\[1\] \('again'\): same project and environment"):
        entries_from(tmp_path, "envs.yaml", json.dumps(twice))


def test_both_the_list_and_the_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "envs.yaml").write_text(YAML_TEXT)
    with pytest.raises(StackConfigError, match="gorules-tokens:environments and gorules-tokens:environmentsFile "
                                               "are both set"):
        environments_source(ENTRIES, "envs.yaml", tmp_path)


@pytest.mark.parametrize("name, text, expected", [
    ("missing.yaml", None, r"'missing.yaml': no such file"),
    ("envs.txt", "[]", r"must end in .yaml, .yml, .json"),
    ("envs.json", "[{", r"'envs.json': not valid JSON: .* \(line 1, column 3\)"),
    ("envs.yaml", "- name: [a\n", r"'envs.yaml': not valid YAML: .*\(line 2, column 1\)"),
    ("envs.yaml", "staging: {}\n", r"'envs.yaml': must hold a list of objects"),
    ("envs.yaml", f"- name: staging\n  projectId: {P}\n  environmentId: {E}\n  environmentId: {E2}\n",
     r"'envs.yaml': not valid YAML: key 'environmentId' is given twice \(line 4\)"),
])
def test_an_unreadable_file_is_named_with_the_problem(tmp_path: Path, name: str, text: str | None, expected: str) -> None:
    if text is not None:
        (tmp_path / name).write_text(text)
    with pytest.raises(StackConfigError, match=expected) as caught:
        environments_source(None, name, tmp_path)
    assert str(caught.value).startswith(f"gorules-tokens:environmentsFile {name!r}")


@pytest.mark.parametrize("setting", ["", "  ", 3, ["envs.yaml"]])
def test_the_setting_must_be_a_path(tmp_path: Path, setting: object) -> None:
    with pytest.raises(StackConfigError, match="gorules-tokens:environmentsFile: must be the path of a YAML or JSON"):
        environments_source(None, setting, tmp_path)


def test_an_empty_file_means_no_tokens(tmp_path: Path) -> None:
    assert entries_from(tmp_path, "envs.yaml", "") == []


def test_no_setting_uses_the_inline_list(tmp_path: Path) -> None:
    source = environments_source(ENTRIES, None, tmp_path)
    assert (source.raw, source.label, source.path) == (ENTRIES, "environments", None)
