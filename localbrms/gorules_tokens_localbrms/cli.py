"""The local BRMS's command line (``gorules-tokens-localbrms``, or ``python -m gorules_tokens_localbrms``).

``seed``, ``pat`` and ``deployment`` write to SQLite directly, so they work with or without a running
server on the same file; they avoid importing the web stack so they start fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from gorules_tokens_localbrms.repo.deployments import DEFAULT_NAME as DEFAULT_DEPLOYMENT


PROG = "gorules-tokens-localbrms"
EXTRA = "gorules-tokens[localbrms]"
# Top-level modules only the `localbrms` extra installs: a missing one is the extra missing,
# not a bug of ours (an ImportError of our own modules keeps its traceback).
EXTRA_MODULES = frozenset({"fastapi", "starlette", "uvicorn", "zen", "boto3", "botocore"})

DESCRIPTION = """\
A local GoRules BRMS for the demo and the tests: real HTTP on loopback, SQLite, zen-engine.
`serve` runs it (and, with --agent-port, an Agent listener); `seed`, `pat` and `deployment`
write the SQLite file directly, with or without a server on it.
`%(prog)s COMMAND --help` lists a command's options and their defaults.
"""

EPILOG = f"""\
exit codes:
  0  done (serve: stopped by SIGINT or SIGTERM)
  1  an unexpected error (with its traceback)
  2  bad arguments, or the `localbrms` extra is not installed (pip install '{EXTRA}')
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the HTTP server (and, with --agent-port, an Agent listener)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default: 8080; 0 picks a free port)")
    serve.add_argument("--db", type=Path, required=True, help="SQLite file (created if missing)")
    serve.add_argument(
        "--pat",
        default=os.environ.get("LOCALBRMS_PAT"),
        help="admin personal access token, all permissions (default: $LOCALBRMS_PAT)",
    )
    serve.add_argument("--port-file", type=Path, help="write the bound port here once ready")
    serve.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"],
        help="server log level (default: warning)",
    )
    serve.add_argument("--keep-alive", type=int, default=5, help="idle keep-alive timeout in seconds (default: 5)")
    serve.add_argument(
        "--agent-port", type=int, help="also run an Agent listener on this port (0 picks a free port)"
    )
    serve.add_argument("--agent-port-file", type=Path, help="write the Agent's bound port here once ready")
    serve.add_argument(
        "--agent-poll-interval",
        type=float,
        default=None,  # gorules_tokens_localbrms.agent.DEFAULT_POLL_INTERVAL_S, resolved in `serve` (it imports zen)
        help="seconds between the Agent's storage polls (default: 5, GoRules' POLL_INTERVAL default)",
    )
    serve.add_argument(
        "--agent-deployment",
        default=DEFAULT_DEPLOYMENT,
        help="name of the Deployment (storage) the Agent serves (default: the one `seed` creates)",
    )

    seed = sub.add_parser("seed", help="create the demo project, its release and the staging + production environments")
    seed.add_argument("--db", type=Path, required=True, help="SQLite file (created if missing)")
    seed.add_argument("--project-key", help="reuse this project if it exists (idempotent)")
    seed.add_argument("--json", action="store_true", help="print JSON (default: a short summary)")

    pat = sub.add_parser("pat", help="create a personal access token and print it")
    pat.add_argument("--db", type=Path, required=True, help="SQLite file (created if missing)")
    pat.add_argument(
        "--permissions", required=True, help="comma-separated, e.g. environments,releases:deploy"
    )
    pat.add_argument("--projects", help="comma-separated project ids the token is limited to")
    pat.add_argument("--name", help="the token's name (default: localbrms)")
    pat.add_argument("--expires-at", help="ISO 8601 time the token expires (default: never)")
    pat.add_argument("--json", action="store_true", help="print JSON (default: the token only)")

    dep = sub.add_parser(
        "deployment",
        help="point a Deployment at an S3 bucket (credentials from $AWS_ACCESS_KEY_ID and"
        " $AWS_SECRET_ACCESS_KEY), or back at SQLite with --sqlite",
    )
    dep.add_argument("--db", type=Path, required=True, help="SQLite file (created if missing)")
    dep.add_argument("--name", default=DEFAULT_DEPLOYMENT, help=f"default: {DEFAULT_DEPLOYMENT}, the one `seed` uses")
    where = dep.add_mutually_exclusive_group(required=True)
    where.add_argument("--s3-bucket", help="bucket name")
    where.add_argument("--sqlite", action="store_true", help="the embedded default storage")
    dep.add_argument("--s3-endpoint", help="URL of an S3-compatible service (default: AWS)")
    dep.add_argument("--s3-path", help="folder inside the bucket (GoRules' 'Path')")
    dep.add_argument("--s3-region", help="default us-east-1")
    dep.add_argument("--s3-force-path-style", action="store_true", help="path-style URLs")
    return parser


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def _cmd_seed(args: argparse.Namespace) -> int:
    from gorules_tokens_localbrms.seed import seed
    from gorules_tokens_localbrms.store import Store

    store = Store(args.db)
    try:
        result = seed(store, project_key=args.project_key)
    finally:
        store.close()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"project {result['projectId']} ({result['projectKey']}), release {result['releaseId']}")
        for env in result["environments"]:
            print(f"  {env['key']:<12} {env['type']:<10} {env['id']}")
    return 0


def _cmd_pat(args: argparse.Namespace) -> int:
    from gorules_tokens_localbrms.ids import parse_uuid
    from gorules_tokens_localbrms.permissions import PERMISSIONS
    from gorules_tokens_localbrms.repo import pats
    from gorules_tokens_localbrms.store import Store

    permissions = _split(args.permissions) or []
    unknown = sorted(set(permissions) - PERMISSIONS)
    if not permissions or unknown:
        print(f"error: unknown or missing permissions: {', '.join(unknown) or '(none)'}", file=sys.stderr)
        return 2
    projects = _split(args.projects)
    if projects is not None:
        parsed = [parse_uuid(p) for p in projects]
        if any(p is None for p in parsed):
            print("error: --projects must be project ids (UUIDs)", file=sys.stderr)
            return 2
        projects = [p for p in parsed if p is not None]
    expires_at = None
    if args.expires_at:
        from datetime import datetime

        from gorules_tokens_localbrms.schemas import iso_expiry

        try:
            expires_at = iso_expiry(datetime.fromisoformat(args.expires_at.replace("Z", "+00:00")))
        except ValueError:
            print("error: --expires-at must be an ISO 8601 time such as 2027-01-31T00:00:00Z", file=sys.stderr)
            return 2
    store = Store(args.db)
    try:
        with store.write() as conn:
            token, row = pats.create(conn, permissions=permissions, projects=projects, name=args.name,
                                     expires_at=expires_at)
    finally:
        store.close()
    result: dict[str, Any] = {
        "id": row["id"],
        "token": token,
        "permissions": sorted(set(permissions)),
        "projects": projects,
        "expiresAt": row["expires_at"],
    }
    print(json.dumps(result, indent=2) if args.json else token)
    return 0


def _cmd_deployment(args: argparse.Namespace) -> int:
    from gorules_tokens_localbrms.object_storage import LOCAL_PROVIDER, StorageConfigError
    from gorules_tokens_localbrms.repo import deployments
    from gorules_tokens_localbrms.store import Store

    configuration: dict[str, Any] = {}
    if not args.sqlite:
        given = {
            "bucket": args.s3_bucket,
            "endpoint": args.s3_endpoint,
            "path": args.s3_path,
            "region": args.s3_region,
            "accessKeyId": os.environ.get("AWS_ACCESS_KEY_ID"),
            "secretAccessKey": os.environ.get("AWS_SECRET_ACCESS_KEY"),
        }
        configuration = {k: v for k, v in given.items() if v}
        if args.s3_force_path_style:
            configuration["forcePathStyle"] = True
    store = Store(args.db)
    try:
        with store.write() as conn:
            row = deployments.configure(
                conn, args.name, LOCAL_PROVIDER if args.sqlite else "aws_s3", configuration
            )
            view = deployments.public_view(row)
    except StorageConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(json.dumps(view, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in EXTRA_MODULES:
            raise
        print(f"error: {PROG} {args.command} needs the 'localbrms' extra ({exc.name} is not installed): "
              f"pip install '{EXTRA}'", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        from gorules_tokens_localbrms.agent import DEFAULT_POLL_INTERVAL_S
        from gorules_tokens_localbrms.server import AgentOptions, serve

        if args.agent_poll_interval is None:
            args.agent_poll_interval = DEFAULT_POLL_INTERVAL_S
        if not args.pat:
            print("error: --pat (or $LOCALBRMS_PAT) is required", file=sys.stderr)
            return 2
        if args.agent_poll_interval <= 0:
            print("error: --agent-poll-interval must be positive", file=sys.stderr)
            return 2
        agent = None
        if args.agent_port is not None:
            agent = AgentOptions(
                args.agent_port, args.agent_port_file, args.agent_poll_interval, args.agent_deployment
            )
        serve(args.host, args.port, args.db, args.pat, args.port_file, args.log_level, args.keep_alive, agent)
        return 0
    if args.command == "seed":
        return _cmd_seed(args)
    if args.command == "deployment":
        return _cmd_deployment(args)
    return _cmd_pat(args)
