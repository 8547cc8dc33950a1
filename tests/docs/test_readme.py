"""The README checked against the code it describes.

The README is the first thing a user reads and the only place many of them look, so the facts
in it that the code also states (exit codes, config keys, the token stack's outputs, the
version to install) are compared with the code here: a change on either side that forgets
the other fails this test instead of misleading a user. The structure is checked too (a
table of contents that matches the headings, links that lead somewhere, the sections in the
order a user needs them), because those break silently when a section is renamed or moved.

Pure file reading and imports: no engine, no network, well under a second.
"""

from __future__ import annotations

import inspect
import re
import signal
import tomllib
from pathlib import Path
from typing import Callable, Optional

import pytest

from gorules_tokens.config_keys import KNOWN_KEYS
from gorules_tokens.rollout import cli as rollout_cli
from gorules_tokens.rollout import report as rollout_report
from gorules_tokens.stack_outputs import TOKEN_STACK_OUTPUTS

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DEVELOPING = REPO / "docs" / "DEVELOPING.md"
MAX_README_LINES = 420

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LINK = re.compile(r"(?<!!)\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
_TOC_ITEM = re.compile(r"^\s*[-*]\s+\[([^\]]+)\]\(#([^)\s]+)\)")
_CONFIG_KEY = re.compile(r"(?<![\w./-])(gorules-tokens|gorules):([A-Za-z][A-Za-z0-9]*)")
_NUMBER = re.compile(r"\b\d{1,3}\b")


# --- reading Markdown -------------------------------------------------------------------------


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, with code lines blanked (numbering is kept).

    A `# comment` in a shell or YAML block is not a heading, and `[x](y)` inside code is not a
    link, so everything structural is read from these lines only."""
    lines, in_code = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_code = not in_code
            lines.append("")
        else:
            lines.append("" if in_code else line)
    return lines


def headings(text: str) -> list[tuple[int, str]]:
    """(level, title) of every Markdown heading, in document order."""
    found = []
    for line in prose_lines(text):
        match = _HEADING.match(line)
        if match:
            found.append((len(match.group(1)), match.group(2)))
    return found


def section_titles(text: str) -> list[str]:
    """The `##` headings: the README's main sections."""
    return [title for level, title in headings(text) if level == 2]


def github_anchor(title: str) -> str:
    """The fragment GitHub gives a heading: markup dropped, lowercase, every character that is
    not a letter, digit, `_`, `-` or space dropped, spaces turned into `-` (not collapsed)."""
    plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)  # a link in a heading: its text
    plain = plain.replace("`", "").replace("*", "").lower()
    plain = re.sub(r"[^\w\- ]", "", plain)
    return plain.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading anchor of a document, with GitHub's `-1`, `-2` suffixes for repeats."""
    seen: dict[str, int] = {}
    result = set()
    for _, title in headings(text):
        base = github_anchor(title)
        count = seen.get(base, 0)
        result.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return result


def toc_entries(text: str) -> list[tuple[str, str]]:
    """(text, anchor) of the table of contents: the `- [title](#anchor)` items between the
    title and the first `##` section, where a reader looks for it."""
    entries = []
    for line in prose_lines(text):
        match = _HEADING.match(line)
        if match and len(match.group(1)) >= 2:
            break
        item = _TOC_ITEM.match(line)
        if item:
            entries.append((item.group(1), item.group(2)))
    return entries


def links(text: str) -> list[str]:
    """Every link and image target outside code."""
    prose = "\n".join(prose_lines(text))
    prose = re.sub(r"`[^`\n]*`", "", prose)  # inline code is not a link either
    return [m.group(2) for m in _LINK.finditer(prose)] + [m.group(1) for m in _IMAGE.finditer(prose)]


def broken_links(doc: Path, text: str) -> list[str]:
    """Relative links of ``doc`` whose file is missing, and `#anchor`s (own or of another
    Markdown file of the repo) that name no heading."""
    problems = []
    for target in links(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
            continue
        path_part, _, fragment = target.partition("#")
        path = (doc.parent / path_part).resolve() if path_part else doc
        if not path.exists():
            problems.append(f"{target}: no file {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
            continue
        if fragment and path.suffix == ".md":
            target_text = text if path == doc else path.read_text(encoding="utf-8")
            if fragment not in anchors(target_text):
                problems.append(f"{target}: no heading with the anchor #{fragment}")
    return problems


def tables(text: str) -> list[list[list[str]]]:
    """Every pipe table outside code, as rows of stripped cells (the `|---|` row dropped)."""
    found: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in prose_lines(text) + [""]:
        stripped = line.strip()
        if stripped.startswith("|"):
            cells = [cell.strip() for cell in stripped.strip("|").split("|")]
            if not all(re.fullmatch(r":?-{3,}:?", cell) for cell in cells):
                current.append(cells)
        elif current:
            found.append(current)
            current = []
    return found


def section_text(text: str, predicate: Callable[[str], bool]) -> str:
    """The body of the first `##` section whose title matches, up to the next `##`."""
    body: list[str] = []
    inside = False
    for raw, line in zip(text.splitlines(), prose_lines(text)):
        match = _HEADING.match(line)
        if match and len(match.group(1)) == 2:
            if inside:
                break
            inside = predicate(match.group(2))
            continue
        if inside:
            body.append(raw)
    return "\n".join(body)


# --- what the README must say -----------------------------------------------------------------


# The main sections in the order a user meets them: set up, own project, rollout (which needs
# the own project's outputs), day-to-day operations, a real BRMS, and what does not scale.
SECTION_ORDER: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("the two commands", lambda t: "command" in t.lower()),
    ("your own Pulumi project", lambda t: "own" in t.lower() and "project" in t.lower()),
    ("rollout", lambda t: "rollout" in t.lower()),
    ("operations", lambda t: "operations" in t.lower()),
    ("a real GoRules BRMS", lambda t: "real" in t.lower() and "brms" in t.lower()),
    ("limits", lambda t: "limit" in t.lower()),
)


def section_order_problems(text: str) -> list[str]:
    """Missing main sections, and main sections out of the order above."""
    titles = section_titles(text)
    positions: list[tuple[str, int]] = []
    problems = []
    for name, predicate in SECTION_ORDER:
        index = next((i for i, title in enumerate(titles) if predicate(title)), None)
        if index is None:
            problems.append(f"no `##` section for {name}")
        else:
            positions.append((name, index))
    for (first, a), (second, b) in zip(positions, positions[1:]):
        if a >= b:
            problems.append(f"{first!r} (section {a + 1}) should come before {second!r} (section {b + 1})")
    return problems


def expected_exit_codes() -> set[int]:
    """The codes either command can exit with, from the code itself.

    The report's constants (0 ok, 1 failed, 2 usage, 3 not current) cover both commands:
    ``rollout`` reads its code off the report, ``status`` off its own report (0 or 3) and
    ``main`` adds 2 and 1 for usage and engine errors. ``main`` installs handlers for SIGINT
    and SIGTERM and then exits 128 + the signal, whichever command ran."""
    codes = {rollout_report.EXIT_OK, rollout_report.EXIT_FAILED, rollout_report.EXIT_USAGE,
             rollout_report.EXIT_NOT_CURRENT}
    main_source = inspect.getsource(rollout_cli.main)
    assert "signal.SIGINT, signal.SIGTERM" in main_source and "128 + engine.interrupted" in main_source, (
        "gorules-tokens no longer exits 128 + the signal on SIGINT/SIGTERM: update this test and the README")
    return codes | {128 + signal.SIGINT, 128 + signal.SIGTERM}


def exit_code_columns(text: str) -> Optional[dict[str, set[int]]]:
    """The exit-code table: first column the codes (`130 / 143` allowed), one column per
    command, headed by its name; a cell of `—` or nothing means the command never exits so.
    Returns command ('rollout', 'status') -> its codes, or None without such a table."""
    for table in tables(text):
        header = [cell.lower() for cell in table[0]]
        if not header or "exit code" not in header[0]:
            continue
        columns: dict[str, set[int]] = {}
        for index, cell in enumerate(header[1:], start=1):
            command = "rollout" if "rollout" in cell else "status" if "status" in cell else None
            if command is None:
                continue
            columns[command] = set()
            for row in table[1:]:
                if index < len(row) and row[index] not in ("", "—", "-"):
                    columns[command] |= {int(code) for code in _NUMBER.findall(row[0])}
        if columns:
            return columns
    return None


def help_exit_codes() -> dict[str, set[int]]:
    """The codes `gorules-tokens --help` lists per command (its epilog, ``cli.EXIT_CODES``):
    after `rollout:` / `status:`, items separated by `;`, each starting with its code(s)."""
    blocks: dict[str, str] = {}
    command = None
    for line in rollout_cli.EXIT_CODES.splitlines()[1:]:
        match = re.match(r"\s*(rollout|status):(.*)", line)
        if match:
            command, line = match.group(1), match.group(2)
        if command:
            blocks[command] = blocks.get(command, "") + " " + line
    result = {}
    for command, block in blocks.items():
        result[command] = set()
        for item in block.split(";"):
            lead = re.match(r"\s*(\d{1,3})(?:\s*/\s*(\d{1,3}))?\s", item)
            if lead:
                result[command] |= {int(code) for code in lead.groups() if code}
    return result


def config_keys_mentioned(text: str) -> set[tuple[str, str]]:
    """(namespace, key) of every `gorules:`/`gorules-tokens:` key the text names; for a path
    such as `gorules:instances.eu.token` that is the top-level key, `instances`."""
    return {(m.group(1), m.group(2)) for m in _CONFIG_KEY.finditer(text)}


def documented_stack_outputs(text: str) -> Optional[list[str]]:
    """The output names of the README's contract table: the table whose first header cell
    names the output, in the section about your own project (where the contract is made)."""
    own = section_text(text, lambda t: "own" in t.lower() and "project" in t.lower())
    for table in tables(own):
        if table[0] and "output" in table[0][0].lower():
            return [re.sub(r"[`*]", "", row[0]) for row in table[1:] if row]
    return None


def pinned_versions(text: str) -> list[str]:
    """The versions the install lines name: the wheel's file name and the git tag."""
    return (re.findall(r"gorules_tokens-(\d+\.\d+\.\d+[\w.]*)-py3-none-any\.whl", text)
            + re.findall(r"gorules-tokens@v(\d+\.\d+\.\d+[\w.]*)", text))


def project_version() -> str:
    """The version pyproject.toml builds: the one every install line must pin."""
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def console_scripts() -> set[str]:
    """The commands `pip install` puts on PATH ([project.scripts])."""
    return set(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"])


# --- the tests --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def readme() -> str:
    """The README as it is in the work tree (the file users read, not a copy)."""
    return README.read_text(encoding="utf-8")


def test_table_of_contents_lists_every_section(readme: str) -> None:
    """A reader lands on the title and needs to see at once where their part starts; a section
    added without a TOC entry is one nobody finds."""
    entries = toc_entries(readme)
    assert entries, "no table of contents (`- [Title](#anchor)` items before the first `##` section)"
    listed = {anchor for _, anchor in entries}
    missing = [t for t in section_titles(readme) if github_anchor(t) not in listed]
    assert not missing, f"`##` sections missing from the table of contents: {missing}"


def test_table_of_contents_links_resolve(readme: str) -> None:
    """A renamed heading silently breaks its TOC link (GitHub just stays at the top)."""
    known = anchors(readme)
    dead = [f"[{label}](#{anchor})" for label, anchor in toc_entries(readme) if anchor not in known]
    assert not dead, f"table of contents links to no heading: {dead}"


# The README, the developer guide and every other hand-written document the README links.
LINKED_DOCS = [README, DEVELOPING, *(p for p in sorted((REPO / "docs").glob("*.md")) if p != DEVELOPING),
               REPO / "provider" / "README.md", REPO / "localbrms" / "README.md", REPO / "bench" / "README.md"]


@pytest.mark.parametrize("doc", LINKED_DOCS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_point_to_files_that_exist(doc: Path) -> None:
    """Files move (the localbrms rename, docs split out of the README); a link to a file or
    heading that is gone is a dead end for the reader."""
    assert doc.exists(), f"{doc.relative_to(REPO)} is missing"
    problems = broken_links(doc, doc.read_text(encoding="utf-8"))
    assert not problems, f"{doc.relative_to(REPO)}: broken links:\n" + "\n".join(problems)


def test_main_sections_come_in_the_order_a_user_needs_them(readme: str) -> None:
    """Set-up first, then the own project, which the rollout builds on, then running it, a real
    BRMS and the limits; internals belong in docs/DEVELOPING.md, not before all that."""
    problems = section_order_problems(readme)
    assert not problems, "\n".join(problems)


def test_exit_code_table_matches_the_code(readme: str) -> None:
    """Scheduled jobs branch on these codes (3 = stale consumer, 130/143 = interrupted), so the
    table must list exactly what `gorules-tokens rollout` and `status` can return."""
    columns = exit_code_columns(readme)
    assert columns is not None, "no exit-code table (first header cell 'exit code', a column per command)"
    expected = expected_exit_codes()
    assert set(columns) == {"rollout", "status"}, f"exit-code table columns: {sorted(columns)}"
    for command, codes in columns.items():
        assert codes == expected, f"{command}: README lists {sorted(codes)}, the code exits {sorted(expected)}"
    # And --help says the same for each command.
    listed = help_exit_codes()
    assert set(listed) == {"rollout", "status"}, f"--help lists exit codes for {sorted(listed)}"
    for command, codes in listed.items():
        assert codes == expected, f"--help lists for {command} {sorted(codes)}, the code exits {sorted(expected)}"


def test_config_keys_are_the_known_ones(readme: str) -> None:
    """Preview refuses any key of these namespaces that is not in KNOWN_KEYS, so a key the
    README names and the code does not read is a guaranteed failure for whoever copies it;
    a key the code reads and the README never names is a feature nobody can find."""
    mentioned = config_keys_mentioned(readme)
    known = {(namespace, key) for namespace, keys in KNOWN_KEYS.items() for key in keys}
    unknown = sorted(f"{ns}:{key}" for ns, key in mentioned - known)
    unmentioned = sorted(f"{ns}:{key}" for ns, key in known - mentioned)
    assert not unknown, f"README names config keys the code does not read: {unknown}"
    assert not unmentioned, f"config keys the README never names: {unmentioned}"


def test_token_stack_outputs_contract_matches_the_code(readme: str) -> None:
    """The token stack's outputs are what `rollout` and `TokenStackReference` read; a user who
    writes their own token program must export exactly these (with export_token_stack_outputs)."""
    documented = documented_stack_outputs(readme)
    assert documented is not None, "no stack-outputs table (first header cell 'output') in the own-project section"
    assert sorted(documented) == sorted(o.name for o in TOKEN_STACK_OUTPUTS)
    assert "export_token_stack_outputs" in readme


def test_install_line_pins_the_released_version(readme: str) -> None:
    """The wheel name and git tag in the install lines must be the version this tree builds."""
    versions = pinned_versions(readme)
    assert versions, "no install line with a pinned version (wheel file name or git tag)"
    assert set(versions) == {project_version()}, f"install lines pin {sorted(set(versions))}"


def test_commands_named_exist(readme: str) -> None:
    """The two set-up commands are scripts of this repo, CI runs the README's test command, the
    console scripts named are the ones pyproject.toml installs, and the local BRMS is started
    under its installed name (the top-level `localbrms` module is gone)."""
    for script in ("scripts/demo.sh", "scripts/test.sh"):
        assert f"./{script}" in readme and (REPO / script).exists(), script
    ci_command = re.search(r"^exec (\S+)", (REPO / ".ci" / "run").read_text(encoding="utf-8"), re.M)
    assert ci_command and ci_command.group(1) in readme, ".ci/run runs a command the README does not give"
    named = set(re.findall(r"\b(gorules-tokens(?:-[a-z]+)?) (?:rollout|status|serve|seed|pat|deployment)\b", readme))
    assert named and named <= console_scripts(), f"console scripts named: {sorted(named)}"
    developing = DEVELOPING.read_text(encoding="utf-8") if DEVELOPING.exists() else ""
    for name, text in (("README.md", readme), ("docs/DEVELOPING.md", developing)):
        assert "-m localbrms" not in text, f"{name}: the module is gorules_tokens_localbrms now"


def test_readme_stays_short_and_links_the_developer_guide(readme: str) -> None:
    """Internals live in docs/DEVELOPING.md so that the README stays a user's guide."""
    assert len(readme.splitlines()) <= MAX_README_LINES, f"README.md: {len(readme.splitlines())} lines"
    assert "docs/DEVELOPING.md" in links(readme), "README.md does not link docs/DEVELOPING.md"

