"""Exports `greeting` (plain) and `token` (secret) from config.

With `source:gate` set to a folder, the program writes `started` there and waits for `release`,
so a test can hold the stack's update (and its lock) open for exactly as long as it needs.
"""

import time
from pathlib import Path

import pulumi

GATE_LIMIT_SECONDS = 600

config = pulumi.Config()
gate = config.get("gate")
if gate:
    (Path(gate) / "started").touch()
    deadline = time.monotonic() + GATE_LIMIT_SECONDS
    while not (Path(gate) / "release").exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"gate {gate} was not released within {GATE_LIMIT_SECONDS} s")
        time.sleep(0.05)

pulumi.export("greeting", config.require("greeting"))
pulumi.export("token", config.require_secret("token"))
