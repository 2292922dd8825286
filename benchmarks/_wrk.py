"""Driving wrk: a Lua script per target (POST body, headers) and its numbers as a Struct.

Rules this module keeps:
- The Lua ``done`` hook prints one machine-readable line (``WRK_RESULT {...}``); the human
  summary wrk prints is kept only for the logs. Latencies are wrk's, in microseconds.
- Every run is bounded: wrk gets ``-d`` and ``--timeout``, the subprocess a hard timeout.
- A run with socket errors or non-2xx answers is reported as such, never silently averaged in.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import msgspec

_HEAD = """\
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
{auth}
"""
_DONE = """\
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT {{\\"requests\\":%d,\\"duration_us\\":%d,\\"bytes\\":%d,"
    .. "\\"connect\\":%d,\\"read\\":%d,\\"write\\":%d,\\"status\\":%d,\\"timeout\\":%d,"
    .. "\\"p50\\":%d,\\"p90\\":%d,\\"p99\\":%d,\\"p999\\":%d,\\"mean\\":%.1f,\\"max\\":%d}}\\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max))
  if tally_threads then
    local total = {{}}
    for _, thread in ipairs(tally_threads) do
      for name, count in pairs(thread:get("tally") or {{}}) do
        total[name] = (total[name] or 0) + count
      end
    end
    local parts = {{}}
    for name, count in pairs(total) do
      parts[#parts + 1] = string.format("\\"%s\\":%d", name, count)
    end
    io.write("WRK_TALLY {{" .. table.concat(parts, ",") .. "}}\\n")
  end
end
"""
_LUA = _HEAD + _DONE


class _Raw(msgspec.Struct):
    requests: int
    duration_us: int
    bytes: int
    connect: int
    read: int
    write: int
    status: int
    timeout: int
    p50: int
    p90: int
    p99: int
    p999: int
    mean: float
    max: int


class WrkResult(msgspec.Struct):
    target: str
    connections: int
    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    mean_ms: float
    max_ms: float
    socket_errors: int
    non_2xx: int
    #: answers counted by a header's value, for scripts that tally one (``write_lua``)
    tally: dict[str, int] = {}

    @property
    def clean(self) -> bool:
        return self.socket_errors == 0 and self.non_2xx == 0 and self.requests > 0


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk (or `make bench`)")
    return found


def wrk_version() -> str:
    out = subprocess.run([wrk_binary(), "-v"], capture_output=True, text=True, timeout=10)
    return (out.stdout or out.stderr).splitlines()[0].split(" Copyright")[0].strip()


def write_script(path: Path, body: bytes, key: str | None) -> Path:
    auth = f'wrk.headers["Authorization"] = "Bearer {key}"' if key else ""
    path.write_text(_LUA.format(body=body.decode(), auth=auth))
    return path


def write_lua(path: Path, code: str, key: str | None) -> Path:
    """A script of its own ``code`` (a ``request`` hook making each body, say) with the
    usual headers and ``done`` hook. ``code`` may define a global ``tally_threads`` (the
    threads from a ``setup`` hook), each counting answers in a global table ``tally``: the
    sums come back as ``WrkResult.tally``."""
    auth = f'wrk.headers["Authorization"] = "Bearer {key}"' if key else ""
    path.write_text(_HEAD.format(body="", auth=auth) + code + "\n" + _DONE.format())
    return path


def run_wrk(
    target: str,
    url: str,
    script: Path,
    *,
    connections: int,
    seconds: float,
    threads: int = 1,
    log: Path | None = None,
) -> WrkResult:
    """One wrk run; raises RuntimeError if wrk fails or prints no result line."""
    duration = max(1, round(seconds))
    command = [
        wrk_binary(),
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 30)
    if log is not None:
        with log.open("a") as out:
            out.write(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}\n")
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}) on {url}:\n{done.stdout}{done.stderr}")
    raw = msgspec.json.decode(line.removeprefix("WRK_RESULT "), type=_Raw)
    secs = raw.duration_us / 1e6
    counted = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK_TALLY ")), None)
    tally = {} if counted is None else msgspec.json.decode(counted[10:], type=dict[str, int])
    return WrkResult(
        target=target,
        connections=connections,
        seconds=round(secs, 3),
        requests=raw.requests,
        rps=round(raw.requests / secs, 1) if secs else 0.0,
        p50_ms=raw.p50 / 1000,
        p90_ms=raw.p90 / 1000,
        p99_ms=raw.p99 / 1000,
        p999_ms=raw.p999 / 1000,
        mean_ms=round(raw.mean / 1000, 4),
        max_ms=raw.max / 1000,
        socket_errors=raw.connect + raw.read + raw.write + raw.timeout,
        non_2xx=raw.status,
        tally=tally,
    )
