"""``python -m contract``: run the checks against the BRMS named by the environment.

Variables: ``GORULES_URL``, ``GORULES_TOKEN`` (a PAT), ``GORULES_CONTRACT_PROJECT_ID`` and
``GORULES_CONTRACT_ENVIRONMENT_ID`` (a throw-away project and environment: ``--mutating``
regenerates the environment's token and redeploys its release), and optionally
``GORULES_CONTRACT_HIDDEN_PROJECT_ID`` (a project the PAT may not see: the report says whether
the BRMS answers 403 or 404 for it) and ``GORULES_PAT_ID`` (the PAT's own id: its expiry is read
by id too). Exit code: 0 when nothing
breaks the provider, 1 when something does, 2 on bad settings.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from contract.checks import HIDDEN_PROJECT_VARIABLE, READ_ONLY, Context
from contract.mutating import MUTATING
from contract.probe import Probe
from contract.report import Result, exit_code, render, write_json
from gorules_tokens.config import normalize_base_url
from gorules_tokens.errors import ConfigError
from gorules_tokens.fields import parse_uuid

VARIABLES = ("GORULES_URL", "GORULES_TOKEN", "GORULES_CONTRACT_PROJECT_ID", "GORULES_CONTRACT_ENVIRONMENT_ID")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripts/contract.sh", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mutating", action="store_true",
        help="also regenerate the throw-away environment's token and redeploy its release",
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    return parser


def _hidden_project() -> str | None:
    raw = os.environ.get(HIDDEN_PROJECT_VARIABLE)
    if not raw:
        return None
    try:
        return parse_uuid(raw)
    except ValueError:
        raise ConfigError(f"{HIDDEN_PROJECT_VARIABLE} must be a UUID") from None


def _settings() -> tuple[str, str, str, str]:
    missing = [name for name in VARIABLES if not os.environ.get(name)]
    if missing:
        raise ConfigError(f"set {', '.join(missing)} (see README.md, Contract suite)")
    url = normalize_base_url(os.environ["GORULES_URL"])
    try:
        project_id = parse_uuid(os.environ["GORULES_CONTRACT_PROJECT_ID"])
        environment_id = parse_uuid(os.environ["GORULES_CONTRACT_ENVIRONMENT_ID"])
    except ValueError:
        raise ConfigError("GORULES_CONTRACT_PROJECT_ID and GORULES_CONTRACT_ENVIRONMENT_ID must be UUIDs") from None
    return url, os.environ["GORULES_TOKEN"], project_id, environment_id


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        url, pat, project_id, environment_id = _settings()
        hidden = _hidden_project()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    mode = "read-only and mutating" if args.mutating else "read-only"
    print(f"GoRules BRMS contract checks ({mode}) against {url}, project {project_id}, environment {environment_id}\n")
    probe = Probe(url, pat)
    ctx = Context(probe, project_id, environment_id, hidden_project_id=hidden,
                  pat_id=os.environ.get("GORULES_PAT_ID") or None)
    results: list[Result] = []
    try:
        for check in READ_ONLY + (MUTATING if args.mutating else ()):
            results.append(check(ctx).scrubbed())
    finally:
        probe.close()
    render(results, sys.stdout)
    if args.json is not None:
        write_json(results, args.json)
    return exit_code(results)


if __name__ == "__main__":
    raise SystemExit(main())
