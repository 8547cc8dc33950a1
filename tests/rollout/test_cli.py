"""`gorules-tokens` argument handling and process set-up, without the engine."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from gorules_tokens.rollout.cli import EXIT_USAGE, main


def test_a_folder_without_a_project_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["status", "--cwd", str(tmp_path)]) == EXIT_USAGE
    assert "no Pulumi.yaml" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["rollout", "--parallel", "0"], ["rollout", "--bogus"], ["rotate"], []])
def test_bad_arguments_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == EXIT_USAGE


def test_sigint_is_restored_for_the_pulumi_runs_it_starts(tmp_path: Path) -> None:
    """Started in the background by a shell, the process inherits SIGINT ignored; its pulumi
    children would inherit that too, and the engine then waits 5 s for its plugins."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        main(["status", "--cwd", str(tmp_path)])
        # A handler of its own (forwarding a graceful cancel), never "ignored": a child's exec
        # resets a handler to the default, but keeps an ignored signal ignored.
        for signum in (signal.SIGINT, signal.SIGTERM):
            assert callable(signal.getsignal(signum))
    finally:
        signal.signal(signal.SIGINT, before)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_rotate_takes_several_names_after_one_flag_and_repeats() -> None:
    from gorules_tokens.rollout.cli import _parser
    args = _parser().parse_args(["rollout", "--rotate", "a", "b", "--rotate", "c"])
    assert args.rotate == ["a", "b", "c"]


def test_help_states_defaults_and_exit_codes(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["rollout", "--help"])
    text = capsys.readouterr().out
    for expected in ("default: 4", "--consumer-timeout", "gorules-tokens:consumers", "130 / 143", "3 an external"):
        assert expected in text, expected
