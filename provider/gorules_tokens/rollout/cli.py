"""``gorules-tokens``: parses arguments, wires signals and the engine, maps outcomes to exit codes.

Everything a rollout decides lives below (``plan``, ``run``); this module only opens the
stacks the config names and turns the report into an exit code (``report.EXIT_*``).
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import signal
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional, Sequence

import yaml

from ..consumer_config import QUALIFIED_KEY, Consumer, ConsumersConfigError, parse_consumers
from ..errors import ConfigError, scrub
from ..stack_outputs import consumer_fingerprints, missing_outputs, token_views
from .pulumi_cli import CANCEL_GRACE_SECONDS, Engine, StackHandle, selected_stack
from .report import EXIT_FAILED, EXIT_USAGE, LOCKED, ConsumerStatus, Report, StackRun, StatusReport, TokenStatus
from .run import ConsumerTarget, Options, ProgramRefused, Rollout
from .stacks import EngineError, StackMissingError, engine_message
from .status import assess
from . import pats
from .workdir import RolloutBusyError, RolloutLock, logs_folder

ENVIRONMENTS_KEY = "gorules-tokens:environments"
ENVIRONMENTS_FILE_KEY = "gorules-tokens:environmentsFile"
DEFAULT_PARALLEL = 4
DEFAULT_PRESTART = 16
DEFAULT_CONSUMER_TIMEOUT = 900.0
EXIT_CODES = """exit codes:
  rollout: 0 every consumer it ran holds the live token and every external one is current;
           1 something failed (the report names it and the command that finishes it);
           2 usage or config error, nothing changed; 3 an external consumer is stale;
           130 / 143 interrupted by SIGINT / SIGTERM (the report says how to finish)
  status:  0 every consumer current; 3 some consumer stale or unknown, or nothing deployed;
           2 usage or config error; 1 error; 130 / 143 interrupted by SIGINT / SIGTERM"""


class UsageError(Exception):
    """Bad arguments or config: exit 2 before anything is changed."""


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cwd", type=Path, default=Path("."), help="the token project's folder (default: here)")
    common.add_argument("--stack", help="the token stack (default: the one selected in --cwd; never changed)")
    common.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON to FILE")
    parser = argparse.ArgumentParser(
        prog="gorules-tokens", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXIT_CODES,
        description="Rotate GoRules BRMS environment tokens with Pulumi and hand them on to the consumer "
                    f"stacks declared in the token stack's config ({QUALIFIED_KEY}).")
    commands = parser.add_subparsers(dest="command", required=True)
    rollout = commands.add_parser(
        "rollout", parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXIT_CODES,
        help="rotate what is due, then update every consumer that needs it",
        description="Refresh (--refresh), preview and update the token stack, then update every consumer stack "
                    f"of {QUALIFIED_KEY} that does not hold a live token, and check what each one exports. "
                    "Consumers whose folder is absent and whose stack is fully qualified are external: "
                    "reported, not run.")
    rollout.add_argument("--refresh", action="store_true",
                         help="refresh the token stack first (adopts out-of-band rotations; an unreachable "
                              "instance's entries are skipped and reported)")
    rollout.add_argument("--rotate", action="extend", nargs="+", default=[], metavar="NAME",
                         help="rotate these entries (names in gorules-tokens:environments) now, even if nothing "
                              "is due; repeatable")
    rollout.add_argument("--preview", action="store_true", help="say what would rotate and follow; change nothing")
    rollout.add_argument("--parallel", type=_positive, default=DEFAULT_PARALLEL, metavar="K",
                         help=f"consumers updated at once (default: {DEFAULT_PARALLEL})")
    rollout.add_argument("--prestart", type=_count, default=DEFAULT_PRESTART, metavar="N",
                         help="consumers (reading through TokenStackReference) whose up starts before the "
                              "regenerate and waits for the new tokens, beyond --parallel; 0: none "
                              f"(default: {DEFAULT_PRESTART})")
    rollout.add_argument("--consumer-timeout", type=_seconds, default=DEFAULT_CONSUMER_TIMEOUT, metavar="SECONDS",
                         help="cancel a consumer's up after this long and report it failed "
                              f"(default: {DEFAULT_CONSUMER_TIMEOUT:g})")
    rollout.add_argument("--cancel-grace", type=_seconds, default=CANCEL_GRACE_SECONDS, metavar="SECONDS",
                         help="after a cancel (interrupt or timeout), how long a pulumi run may take to stop "
                              "before it is killed, which can leave its lock "
                              f"(default: {CANCEL_GRACE_SECONDS:g})")
    rollout.add_argument("--log-dir", type=Path, metavar="DIR",
                         help="where each consumer's whole output goes, one file each, mode 0600 "
                              "(default: a new folder under .gorules-tokens/logs/ in --cwd)")
    commands.add_parser("status", parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog=EXIT_CODES, help="which consumers hold the current tokens (no changes)",
                        description="Each token's fingerprint and schedule, and whether each consumer of "
                                    f"{QUALIFIED_KEY} holds it; reads stack outputs only (no passphrase).")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _say(text: str) -> None:
    print(f"[gorules-tokens] {text}", flush=True)


def _token_stack(args: argparse.Namespace, engine: Engine) -> StackHandle:
    base = args.cwd.resolve()
    if not (base / "Pulumi.yaml").exists():
        raise UsageError(f"--cwd {args.cwd}: no Pulumi.yaml (run from the token project's folder or pass --cwd)")
    name = args.stack or selected_stack(base, engine)
    if not name:
        raise UsageError("no stack selected in the token project: pass --stack NAME")
    return StackHandle(base, name, engine)


def _project_name(folder: Path) -> str:
    for line in (folder / "Pulumi.yaml").read_text().splitlines():
        if line.startswith("name:"):
            return line.split(":", 1)[1].strip().strip("'\"")
    return ""


def _entries(token: StackHandle, outputs: dict) -> list[str]:
    """The token stack's entry names: from its config (the inline list or the environments
    file; the program validates either at preview), else from what it exports."""
    raw = token.config_object(ENVIRONMENTS_KEY)
    if raw is None:
        path = token.config_object(ENVIRONMENTS_FILE_KEY)
        if isinstance(path, str):
            try:
                raw = yaml.safe_load((token.folder / path).read_text())  # JSON is YAML too
            except (OSError, yaml.YAMLError) as exc:
                raise UsageError(f"{ENVIRONMENTS_FILE_KEY}: cannot read {path}: {exc}") from None
    if isinstance(raw, list):
        return [e["name"] for e in raw if isinstance(e, dict) and isinstance(e.get("name"), str)]
    return list(token_views(outputs))


def _consumers(token: StackHandle, entries: list[str]) -> list[Consumer]:
    try:
        return parse_consumers(token.config_object(QUALIFIED_KEY), entries, base=token.folder,
                               token_stack=(_project_name(token.folder), token.name))
    except ConsumersConfigError as exc:
        raise UsageError(str(exc)) from None


def _target(token: StackHandle, consumer: Consumer) -> ConsumerTarget:
    """The consumer's stack in its own folder; absent with a fully qualified stack, an external
    one (another repository's) read from the token project's folder on the shared backend."""
    folder = consumer.folder(token.folder)
    if (folder / "Pulumi.yaml").exists():
        return ConsumerTarget(consumer, StackHandle(folder, consumer.stack, token.engine))
    if consumer.stack.count("/") == 2:
        return ConsumerTarget(consumer, StackHandle(token.folder, consumer.stack, token.engine), external=True)
    raise UsageError(f"{QUALIFIED_KEY}: consumer {consumer.label}: no Pulumi project at {folder}; a consumer "
                     "of another repository needs its stack as <organization>/<project>/<stack>")


def _rerun(args: argparse.Namespace) -> Callable[[Sequence[str]], str]:
    def command(rotate: Sequence[str]) -> str:
        words = ["gorules-tokens", "rollout", "--cwd", str(args.cwd.resolve())]
        if args.stack:
            words += ["--stack", args.stack]
        if args.refresh:
            words.append("--refresh")
        if rotate:
            words += ["--rotate", *rotate]
        return " ".join(shlex.quote(w) for w in words)
    return command


def rollout(args: argparse.Namespace, engine: Engine) -> int:
    token = _token_stack(args, engine)
    outputs = token.outputs()
    if outputs and missing_outputs(outputs):
        raise UsageError(f"the token stack {token.name} does not export {', '.join(missing_outputs(outputs))}: "
                         "call gorules_tokens.export_token_stack_outputs(tokens) in its program, then run "
                         "`pulumi up` once")
    entries = _entries(token, outputs)
    unknown = [name for name in args.rotate if name not in entries]
    if unknown:
        raise UsageError(f"--rotate: unknown entry {', '.join(map(repr, unknown))} "
                         f"(entries of {token.name}: {', '.join(entries) or 'none'})")
    targets = [_target(token, c) for c in _consumers(token, entries)]
    options = Options(refresh=args.refresh, rotate=tuple(dict.fromkeys(args.rotate)), preview=args.preview,
                      parallel=args.parallel, consumer_timeout=args.consumer_timeout, prestart=args.prestart)
    if args.preview:
        return _finish(args, _rollout(token, targets, entries, options, args, engine))
    try:
        with RolloutLock(token.folder, token.name):
            logs = args.log_dir.resolve() if args.log_dir else logs_folder(token.folder, token.name)
            logs.mkdir(parents=True, exist_ok=True, mode=0o700)
            options = dataclasses.replace(options, logs=logs)
            report = _rollout(token, targets, entries, options, args, engine, pat_check=lambda: _pats(token))
    except RolloutBusyError as exc:
        report = Report(StackRun(token.name, LOCKED, error=f"{exc}; nothing was rotated by this one"),
                        next_command=f"wait for the other rollout to finish; then {_rerun(args)(options.rotate)}")
    return _finish(args, report)


def _pats(token: StackHandle) -> pats.PatReading:
    """Each configured PAT's expiry, read once, recorded for ``status``."""
    try:
        reading = pats.read(token.config_all())
    except ConfigError as exc:
        raise ProgramRefused(exc.message) from None
    pats.record(token.folder, token.name, reading)
    return reading


def _rollout(token: StackHandle, targets: list[ConsumerTarget], entries: list[str], options: Options,
             args: argparse.Namespace, engine: Engine, pat_check: Optional[Callable[[], "pats.PatReading"]] = None
             ) -> Report:
    try:
        return Rollout(token, targets, entries, options, _say, _rerun(args), lambda: engine.interrupted,
                       pat_check=pat_check).run()
    except StackMissingError as exc:  # raised while reading, before anything changed
        raise UsageError(f"{QUALIFIED_KEY}: {exc}: create and configure it before the first rollout") from None


def _finish(args: argparse.Namespace, report: Report) -> int:
    for line in report.lines():
        print(line, flush=True)
    if args.json:
        report.write_json(args.json)
    return report.exit_code


def _exported(consumer: StackHandle) -> Optional[dict[str, str]]:
    """What a consumer exports; a stack that does not exist yet holds nothing (unknown)."""
    try:
        return consumer_fingerprints(consumer.outputs())
    except StackMissingError:
        return None


def status(args: argparse.Namespace, engine: Engine) -> int:
    token = _token_stack(args, engine)
    outputs = token.outputs()
    tokens = token_views(outputs)
    now = datetime.now(timezone.utc)
    consumers = _consumers(token, _entries(token, outputs))
    report = StatusReport(token.name, problem=None if outputs else "no outputs: the stack was never deployed",
                          pats=pats.last_recorded(token.folder, token.name))
    report.tokens = [TokenStatus(t.entry, t.fingerprint, t.rotated_at, t.next_rotation_at, t.due(now))
                     for t in tokens.values()]
    for consumer in consumers:
        state = assess(consumer, _exported(_target(token, consumer).stack), tokens)
        report.consumers.append(ConsumerStatus(consumer.label, consumer.dir, consumer.stack, state.status,
                                               dict(state.entries)))
    for line in report.lines():
        print(line)
    if args.json:
        report.write_json(args.json)
    return report.exit_code


def main(argv: Optional[Sequence[str]] = None) -> int:
    engine = Engine()
    # SIGINT and SIGTERM ask every running pulumi for its graceful cancel; the rollout then stops
    # starting anything, writes its report and exits 128 + the signal. (A shell starts
    # background jobs with SIGINT ignored; installing a handler also undoes that.)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, _frame: engine.interrupt(number))
    args = _parser().parse_args(argv)
    engine.grace = getattr(args, "cancel_grace", CANCEL_GRACE_SECONDS)
    try:
        code = rollout(args, engine) if args.command == "rollout" else status(args, engine)
    except (UsageError, StackMissingError) as exc:
        print(f"gorules-tokens {args.command}: {scrub(str(exc))}", file=sys.stderr)
        code = EXIT_USAGE
    except (EngineError, OSError, ValueError) as exc:
        print(f"gorules-tokens {args.command}: {scrub(engine_message(exc))}", file=sys.stderr)
        code = EXIT_FAILED
    return 128 + engine.interrupted if engine.interrupted else code
