"""A tiny app that evaluates the `shipping` decision with its configured token.

Run: python app.py CONFIG_FILE [JSON_CONTEXT]. Exits 0 on a 200 answer, 1 otherwise,
printing the status and the decision's result, never the token.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx


def evaluate(config_path: Path, context: dict) -> httpx.Response:
    settings = json.loads(config_path.read_text())
    base = settings["apiUrl"].rstrip("/").removesuffix("/api")
    url = (
        f"{base}/api/projects/{settings['projectId']}/environments/"
        f"{settings['environmentId']}/evaluate/{settings['decisionKey']}"
    )
    return httpx.post(url, json={"context": context}, headers={"X-Access-Token": settings["accessToken"]}, timeout=10)


def main(argv: list[str]) -> int:
    context = json.loads(argv[2]) if len(argv) > 2 else {"weight": 3, "country": "US"}
    response = evaluate(Path(argv[1]), context)
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    print(f"app: evaluate shipping -> HTTP {response.status_code} {json.dumps(body.get('result', body.get('message')))}")
    return 0 if response.status_code == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
