"""The field table is the only list of properties: everything that names them agrees with it."""

import dataclasses
import inspect
import re
from pathlib import Path

from gorules_tokens import EnvironmentToken
from gorules_tokens.fields import (
    BRMS, CONFIG_KEYS, CREATE_ONLY, IDENTITY, INPUTS, OUTPUTS, REPLACE, SCHEDULE, SECRET_OUTPUTS, UPDATE, echo,
)
from gorules_tokens.inputs import TokenInputs
from tokenstack.config import parse_environments

P = "123e4567-e89b-12d3-a456-426614174000"
E = "223e4567-e89b-12d3-a456-426614174000"


def test_resource_keywords_are_the_table_inputs():
    params = inspect.signature(EnvironmentToken.__init__).parameters
    keywords = [name for name, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY and name != "opts"]
    assert keywords == [f.name for f in INPUTS]
    for f in INPUTS:
        # Required inputs have no default; optional ones default to "not sent" (None).
        assert (params[f.name].default is inspect.Parameter.empty) == f.required, f.name
        if not f.required:
            assert params[f.name].default is None, f.name


def test_resource_declares_every_output_and_the_ids():
    hints = EnvironmentToken.__annotations__
    assert set(hints) == {f.name for f in OUTPUTS} | {f.name for f in INPUTS if f.required}


def test_token_inputs_attributes_and_defaults_are_the_table_inputs():
    attrs = dataclasses.fields(TokenInputs)
    assert [a.name for a in attrs] == [f.name for f in INPUTS]
    minimal = TokenInputs(project_id=P, environment_id=E)
    for f in INPUTS:
        if not f.required:
            assert getattr(minimal, f.name) == f.default, f.name


def test_stack_config_keys_come_from_the_table():
    assert CONFIG_KEYS == {"projectId": "project_id", "environmentId": "environment_id", "keepers": "keepers",
                           "rotateAfter": "rotate_after", "revokeOnDelete": "revoke_on_delete",
                           "adoptExisting": "adopt_existing", "redeploy": "redeploy", "instance": "instance"}
    entry = {"name": "a", **{key: _sample(name) for key, name in CONFIG_KEYS.items()}}
    [parsed] = parse_environments([entry])
    assert set(parsed.given) == set(CONFIG_KEYS.values())


def _sample(name):
    return {"project_id": P, "environment_id": E, "keepers": {"v": "1"}, "rotate_after": "1d",
            "revoke_on_delete": True, "adopt_existing": True, "redeploy": False, "instance": "eu"}[name]


def test_only_the_tokens_are_secret_and_echo_skips_ids_and_defaults():
    assert SECRET_OUTPUTS == ("access_token", "previous_access_token")
    values = TokenInputs(project_id=P, environment_id=E, keepers={"v": "1"}, redeploy=True).compact()
    assert echo(values) == {"keepers": {"v": "1"}}


# -- provider/README.md's tables are the table's (issue 19, smaller) ---------------------------

README = Path(__file__).resolve().parents[2] / "provider" / "README.md"


def _table(heading: str) -> list[list[str]]:
    """The rows (cells) of the first Markdown table after ``## heading``, header row excluded."""
    text = README.read_text()
    section = text[text.index(f"## {heading}\n"):]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            cells = line.replace("\\|", "\x00").strip("|").split("|")
            rows.append([cell.replace("\x00", "|").strip() for cell in cells])
        elif rows:
            break
    return [r for r in rows[1:] if not set(r[0]) <= {"-", ":"}]


def _names(cell: str) -> list[str]:
    """The property names a cell spells in backticks, leaving out parenthesised values."""
    return re.findall(r"`([a-z_]+)`", re.sub(r"\(.*?\)", "", cell))


# What the "Change causes" column must say for each effect in the table.
_EFFECT_WORDS = {
    IDENTITY: ("**replace**",), REPLACE: ("**replace**",), UPDATE: ("update",), SCHEDULE: ("update", "**replace**"),
    BRMS: ("**replace**", "update"), CREATE_ONLY: ("nothing",),
}


def test_the_argument_reference_lists_every_input_with_its_effect():
    rows = {_names(row[0])[0]: row for row in _table("Argument Reference")}
    assert list(rows) == [f.name for f in INPUTS]
    for f in INPUTS:
        causes = rows[f.name][3]
        assert all(word in causes for word in _EFFECT_WORDS[f.effect]), (f.name, causes)
        if f.effect in (UPDATE, CREATE_ONLY):
            assert "**replace**" not in causes, (f.name, causes)
        if f.required:
            assert rows[f.name][2] == "required", f.name


def test_the_attribute_reference_lists_every_output():
    documented = [name for row in _table("Attribute Reference") for name in _names(row[0])]
    outputs = [f.name for f in OUTPUTS]
    assert [n for n in documented if n in outputs] == outputs  # each once, in the table's order
    extra = set(documented) - set(outputs)
    assert extra == {"project_id", "environment_id"}, extra  # the echoed-inputs row
