"""Micro-benchmark of the request path through ``Gateway.__rsgi__``, in process: CPU per
request for a plain chat answered by the embedded mock provider, for an exact-cache hit, and
for deterministic requests (plain and streamed) that the coalesce stage keys and leads
(``--no-coalesce`` takes the stage out, for an A/B in one checkout),
with the pipelines a config builds (no access or usage log, so the numbers are the path's own).

Run: ``.venv/bin/python benchmarks/micro/bench_pipeline.py [--requests N]``; for an A/B, run it
in two checkouts in turn (interleaved) and compare the best of each.

Rules this script keeps:
- Requests go through ``fastgw.testing.RSGIClient`` (a fake RSGI protocol, no sockets): the
  figure is fastgw's Python and compiled-core work plus the fake protocol's, the same in both
  sides of an A/B; Granian's own per-request cost (~35-40 µs, ``make bench``) is not in it.
- CPU time (``time.process_time``), best of 5 slices after a warm-up.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fastgw import Gateway, parse_config
from fastgw.testing import RSGIClient
from tests.conftest import DEV_KEY, mock_config

CACHED = """
[[models]]
name = "gpt-cached"
deployments = [{ provider = "mock", model = "mock-cached" }]
[models.cache]
"""
CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "Say hello"}]}
BODIES: dict[str, dict[str, Any]] = {
    "plain chat": CHAT,
    "cache hit": {**CHAT, "model": "gpt-cached", "temperature": 0},
    # keyed by the coalesce stage and run as a flight's leader (no follower): its cost alone
    "deterministic chat": {**CHAT, "temperature": 0},
    "deterministic stream": {**CHAT, "temperature": 0, "stream": True},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument(
        "--no-coalesce", action="store_true", help="coalesce = false on every model (an A/B)"
    )
    args = parser.parse_args()
    text = mock_config(extra=CACHED).replace("[server]\n", "[server]\naccess_log = false\n", 1)
    if args.no_coalesce:
        text = re.sub(r"(?m)^(deployments = .*)$", r"\1\ncoalesce = false", text)
    text += "\n[usage]\nenabled = false\n"
    logging.disable(logging.WARNING)
    os.chdir(tempfile.mkdtemp(prefix="fastgw-bench-"))
    app = Gateway(parse_config(text, "bench.toml", {}))
    headers = {"authorization": f"Bearer {DEV_KEY}"}
    per_slice = max(1, args.requests // 5)
    with RSGIClient(app) as client:

        async def run(body: dict[str, Any], n: int) -> None:
            for _ in range(n):
                response = await client.send(
                    "POST", "/v1/chat/completions", headers=headers, json=body
                )
                assert response.status == 200, response.body

        for name, body in BODIES.items():
            client.run(run(body, 500))
            best = float("inf")
            for _ in range(5):
                start = time.process_time()
                client.run(run(body, per_slice))
                best = min(best, (time.process_time() - start) / per_slice)
            print(f"{name}: {best * 1e6:.1f} µs CPU per request (best of 5 x {per_slice})")


if __name__ == "__main__":
    main()
