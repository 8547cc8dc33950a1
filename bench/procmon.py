"""Run one command and measure its whole process tree.

* wall time: `perf_counter` from spawn to reap;
* CPU time of the tree: `os.wait4` rusage of the reaped child, which on Linux includes every
  descendant it (transitively) waited for (the Pulumi CLI waits for its plugins, the language
  host for the program, the plugin's shell wrapper for its Python);
* peak tree RSS: the largest *sum* of RSS over the tree, sampled every `interval` seconds by a
  thread that walks the tree with psutil (shared pages are counted once per process);
* max single-process RSS: `ru_maxrss` from `wait4` (exact, the largest process of the tree);
* per component (CLI, language host, program, dynamic provider, ...): peak RSS and the last
  sampled CPU time (so a component that lives less than one interval can be missed).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import psutil


def classify(cmdline: Sequence[str], name: str) -> str:
    """Role of a process in a Pulumi run, from its command line."""
    joined = " ".join(cmdline)
    if "pulumi.dynamic" in joined or "provider_profiled" in joined:
        return "provider"
    if "pulumi-resource-pulumi-python" in joined:
        return "provider-wrapper"
    if "pulumi-language-python-exec" in joined:
        return "program"
    if name.startswith("pulumi-language-python") or "pulumi-language-python" in joined:
        return "langhost"
    if name == "pulumi" or (cmdline and os.path.basename(cmdline[0]) == "pulumi"):
        return "cli"
    return "other:" + (name or "?")


@dataclass
class ProcInfo:
    role: str
    cmdline: str = ""
    peak_rss: int = 0
    cpu: float = 0.0
    first_seen: float = 0.0
    last_seen: float = 0.0


@dataclass
class RunResult:
    args: list[str]
    returncode: int
    wall: float
    cpu_user: float
    cpu_system: float
    max_single_rss: int
    peak_tree_rss: int
    samples: int
    components: dict[str, dict[str, float]] = field(default_factory=dict)
    stdout_path: str = ""

    @property
    def cpu(self) -> float:
        return self.cpu_user + self.cpu_system


class _Sampler(threading.Thread):
    def __init__(self, pid: int, interval: float, t0: float) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.t0 = t0
        self.stop_event = threading.Event()
        self.procs: dict[tuple[int, float], ProcInfo] = {}
        self.peak_tree_rss = 0
        self.samples = 0

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self.stop_event.is_set():
            self.sample(root)
            self.stop_event.wait(self.interval)

    @staticmethod
    def _role(proc: psutil.Process) -> str | None:
        # Not cached: a process forked by a Go parent keeps its pid (and create time) across
        # exec, so the same pid is first a copy of the language host and then the program.
        # None when unknown right now (an exiting zombie has an empty command line).
        try:
            cmdline = proc.cmdline()
            return classify(cmdline, proc.name()) if cmdline else None
        except psutil.Error:
            return None

    def sample(self, root: psutil.Process) -> None:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        now = time.perf_counter() - self.t0
        total = 0
        for proc in tree:
            try:
                with proc.oneshot():
                    rss = proc.memory_info().rss
                    times = proc.cpu_times()
                role = self._role(proc)
            except psutil.Error:
                continue
            total += rss
            key = (proc.pid, proc.create_time())
            info = self.procs.get(key)
            if info is None:
                info = self.procs[key] = ProcInfo(role=role or "other:?", first_seen=now)
            if role is not None:
                info.role = role
                if role.startswith("other") and not info.cmdline:
                    try:
                        info.cmdline = " ".join(proc.cmdline())[:200]
                    except psutil.Error:
                        pass
            info.peak_rss = max(info.peak_rss, rss)
            info.cpu = times.user + times.system
            info.last_seen = now
        self.samples += 1
        self.peak_tree_rss = max(self.peak_tree_rss, total)


def run_measured(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    interval: float = 0.05,
    timeout: float = 1800.0,
) -> RunResult:
    """Runs `args` to completion (stdout+stderr to `log_path`) and measures its tree."""
    with open(log_path, "wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            list(args), cwd=cwd, env=dict(env), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        sampler = _Sampler(proc.pid, interval, t0)
        sampler.start()
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    sampler.stop_event.set()
    sampler.join()
    components: dict[str, dict[str, float]] = {}
    for info in sampler.procs.values():
        c = components.setdefault(
            info.role,
            {"count": 0, "peak_rss": 0, "cpu": 0.0, "alive_s": 0.0, "first_s": info.first_seen, "last_s": 0.0},
        )
        c["count"] += 1
        if info.cmdline:
            c["cmdline"] = info.cmdline
        c["first_s"] = round(min(c["first_s"], info.first_seen), 3)
        c["last_s"] = round(max(c["last_s"], info.last_seen), 3)
        c["peak_rss"] = max(c["peak_rss"], info.peak_rss)
        c["cpu"] = round(c["cpu"] + info.cpu, 3)
        c["alive_s"] = round(c["alive_s"] + (info.last_seen - info.first_seen), 3)
    return RunResult(
        args=list(args),
        returncode=proc.returncode,
        wall=wall,
        cpu_user=usage.ru_utime,
        cpu_system=usage.ru_stime,
        max_single_rss=usage.ru_maxrss * 1024,
        peak_tree_rss=sampler.peak_tree_rss,
        samples=sampler.samples,
        components=components,
        stdout_path=str(log_path),
    )
