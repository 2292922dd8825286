"""Small process and HTTP helpers for the benchmark driver: worker pids, RSS, CPU, one POST.

Everything here reads /proc of processes the suite started itself and talks to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from fastgw.testing.process import GatewayProcess


def worker_pids(gateway: GatewayProcess) -> list[int]:
    """The Granian worker processes: the children of the ``fastgw serve`` process."""
    return child_pids(gateway.process.pid)


def child_pids(pid: int) -> list[int]:
    pids: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(p) for p in (task / "children").read_text().split()]
    return sorted(pids)


def rss_mb(pid: int) -> float:
    """Resident set size (``VmRSS``) in MiB; 0 if the process is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time used so far by these processes."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def post(url: str, body: bytes, key: str | None) -> tuple[int, dict[str, str], bytes]:
    """One POST; (status, lower-cased headers, body), error statuses included."""
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            found = {k.lower(): v for k, v in response.headers.items()}
            return response.status, found, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def check_answer(name: str, url: str, body: bytes, key: str | None) -> None:
    """Fail the run early if a target does not answer a chat completion."""
    status, _, data = post(url, body, key)
    if status != 200 or b'"choices"' not in data:
        raise RuntimeError(f"{name} answered {status}: {data[:300]!r}")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
