"""``gorules-tokens``: the rollout and status commands.

Exit codes are a contract for CI: rollout 0 (token stack and every affected consumer
converged), 1 (something failed; the report names it and the command to run), 2 (usage
or config error, nothing changed); status 0 (every consumer current), 3 (some consumer
stale or unknown), 1 (error).
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Sequence

from pulumi import automation as auto

from ..errors import scrub
from ..consumer_config import QUALIFIED_KEY, Consumer, ConsumersConfigError, parse_consumers
from ..stack_outputs import consumer_fingerprints, token_views
from .run import ConsumerTarget, Options, Rollout
from .stacks import StackHandle, StackMissingError, engine_message, pulumi_command, selected_stack
from .status import CURRENT, assess

ENVIRONMENTS_KEY = "gorules-tokens:environments"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_CURRENT = 0, 1, 2, 3


class UsageError(Exception):
    """Bad arguments or config: exit 2 before anything is changed."""


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cwd", type=Path, default=Path("."), help="the token project's folder (default: here)")
    common.add_argument("--stack", help="the token stack (default: the selected one)")
    common.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    parser = argparse.ArgumentParser(prog="gorules-tokens", description="Rotate GoRules tokens and hand them on.")
    commands = parser.add_subparsers(dest="command", required=True)
    rollout = commands.add_parser("rollout", parents=[common],
                                  help="rotate what is due, then update every consumer that needs it")
    rollout.add_argument("--refresh", action="store_true", help="refresh in the same token-stack up")
    rollout.add_argument("--rotate", action="append", default=[], metavar="NAME",
                         help="rotate this entry now even if nothing is due (repeatable)")
    rollout.add_argument("--preview", action="store_true", help="say what would rotate and follow; change nothing")
    rollout.add_argument("--parallel", type=_positive, default=4, metavar="K", help="consumers updated at once")
    commands.add_parser("status", parents=[common], help="which consumers hold the current tokens (no changes)")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _say(text: str) -> None:
    print(f"[gorules-tokens] {text}", flush=True)


def _token_stack(args: argparse.Namespace) -> StackHandle:
    base = args.cwd.resolve()
    if not (base / "Pulumi.yaml").exists():
        raise UsageError(f"--cwd {args.cwd}: no Pulumi.yaml (run from the token project's folder or pass --cwd)")
    command = pulumi_command()
    name = args.stack or selected_stack(base, command)
    if not name:
        raise UsageError("no stack selected in the token project: pass --stack NAME")
    return StackHandle(base, name, command)


def _entries(token: StackHandle, outputs: dict) -> list[str]:
    """The token stack's entry names: from its config, else from what it exports."""
    raw = token.config_object(ENVIRONMENTS_KEY)
    if isinstance(raw, list):
        return [e["name"] for e in raw if isinstance(e, dict) and isinstance(e.get("name"), str)]
    return list(token_views(outputs))


def _consumers(token: StackHandle, entries: list[str]) -> list[Consumer]:
    try:
        return parse_consumers(token.config_object(QUALIFIED_KEY), entries, base=token.folder)
    except ConsumersConfigError as exc:
        raise UsageError(str(exc)) from None


def _handle(token: StackHandle, consumer: Consumer, runnable: bool) -> StackHandle:
    """The consumer's stack: in its own folder, or (status only) by its fully qualified name."""
    folder = consumer.folder(token.folder)
    if (folder / "Pulumi.yaml").exists():
        return StackHandle(folder, consumer.stack, token.command)
    if not runnable and consumer.stack.count("/") == 2:
        return StackHandle(token.folder, consumer.stack, token.command)
    hint = "" if runnable else ", or give its stack as <organization>/<project>/<stack>"
    raise UsageError(f"{QUALIFIED_KEY}: consumer {consumer.label}: no Pulumi project at {folder}{hint}")


def _rerun(args: argparse.Namespace) -> str:
    words = ["gorules-tokens", "rollout", "--cwd", str(args.cwd.resolve())]
    if args.stack:
        words += ["--stack", args.stack]
    if args.refresh:
        words.append("--refresh")
    return " ".join(shlex.quote(w) for w in words)


def rollout(args: argparse.Namespace) -> int:
    token = _token_stack(args)
    entries = _entries(token, token.outputs())
    unknown = [name for name in args.rotate if name not in entries]
    if unknown:
        raise UsageError(f"--rotate: unknown entry {', '.join(map(repr, unknown))} "
                         f"(entries of {token.name}: {', '.join(entries) or 'none'})")
    targets = [ConsumerTarget(c, _handle(token, c, runnable=True)) for c in _consumers(token, entries)]
    options = Options(refresh=args.refresh, rotate=tuple(dict.fromkeys(args.rotate)), preview=args.preview,
                      parallel=args.parallel)
    try:
        report = Rollout(token, targets, options, _say, _rerun(args)).run()
    except StackMissingError as exc:  # raised while reading, before anything changed
        raise UsageError(f"{QUALIFIED_KEY}: {exc}: create and configure it before the first rollout") from None
    for line in report.lines():
        print(line)
    if args.json:
        report.write_json(args.json)
    return EXIT_FAILED if report.failed else EXIT_OK


def _exported(consumer: StackHandle) -> Optional[dict[str, str]]:
    """What a consumer exports; a stack that does not exist yet holds nothing (unknown)."""
    try:
        return consumer_fingerprints(consumer.outputs())
    except StackMissingError:
        return None


def status(args: argparse.Namespace) -> int:
    token = _token_stack(args)
    outputs = token.outputs()
    tokens = token_views(outputs)
    now = datetime.now(timezone.utc)
    consumers = _consumers(token, _entries(token, outputs))
    states = [assess(c, _exported(_handle(token, c, runnable=False)), tokens) for c in consumers]
    report = {
        "tokenStack": token.name,
        "tokens": [{"entry": t.entry, "fingerprint": t.fingerprint, "rotatedAt": t.rotated_at,
                    "nextRotationAt": t.next_rotation_at, "due": t.due(now)} for t in tokens.values()],
        "consumers": [{"consumer": s.consumer.label, "dir": s.consumer.dir, "stack": s.consumer.stack,
                       "status": s.status, "entries": dict(s.entries)} for s in states],
    }
    for t in report["tokens"]:
        print(f"token {t['entry']}: {t['fingerprint']} rotatedAt {t['rotatedAt']} "
              f"nextRotationAt {t['nextRotationAt'] or '-'}" + (" DUE" if t["due"] else ""))
    for s in states:
        detail = ", ".join(f"{entry} {found}" for entry, found in s.entries.items())
        print(f"consumer {s.consumer.label}: {s.status} ({detail or 'uses no entry'})")
    code = EXIT_OK if all(s.status == CURRENT for s in states) else EXIT_NOT_CURRENT
    report["exitCode"] = code
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return code


def main(argv: Optional[Sequence[str]] = None) -> int:
    # A shell starts background jobs with SIGINT ignored, and every pulumi this process runs
    # would inherit that: the engine then waits 5 s for its plugins at the end of each
    # operation. Python's own handler is reset to the default in children.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    args = _parser().parse_args(argv)
    try:
        return rollout(args) if args.command == "rollout" else status(args)
    except (UsageError, StackMissingError) as exc:
        print(f"gorules-tokens {args.command}: {scrub(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except (auto.CommandError, OSError, ValueError) as exc:
        print(f"gorules-tokens {args.command}: {scrub(engine_message(exc))}", file=sys.stderr)
        return EXIT_FAILED
