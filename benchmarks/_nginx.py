"""Debian's nginx as the benchmark's canned upstream and its ``proxy_pass`` reference.

Rules this module keeps:
- Configs are written at run time into the run's own directory; nginx runs in the foreground
  (``daemon off``) with its prefix, pid, temp and log paths all inside that directory, and
  listens on 127.0.0.1 only. Nothing under /etc, /var or /run is read or written.
- The canned upstream answers every request with one fixed chat completion
  (``return 200 '...'``), and ``/v1/messages`` with the same answer in Anthropic's Messages
  shape (``CANNED_MESSAGE``: the translated provider's benchmark), keep-alive on; the
  proxy forwards to it over HTTP/1.1 with an upstream keep-alive pool, as a
  well-configured production nginx would.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

CANNED_COMPLETION = (
    '{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,'
    '"model":"gpt-4o-mini","system_fingerprint":"fp_bench","choices":[{"index":0,'
    '"message":{"role":"assistant","content":"Connection pooling reuses established '
    'connections, which removes handshake latency from every request."},'
    '"logprobs":null,"finish_reason":"stop"}],'
    '"usage":{"prompt_tokens":31,"completion_tokens":16,"total_tokens":47}}'
)

# the same answer as Anthropic's Messages API writes it (same text, same token counts)
CANNED_MESSAGE = (
    '{"id":"msg_bench","type":"message","role":"assistant","model":"claude-haiku-4-5",'
    '"content":[{"type":"text","text":"Connection pooling reuses established '
    'connections, which removes handshake latency from every request."}],'
    '"stop_reason":"end_turn","stop_sequence":null,'
    '"usage":{"input_tokens":31,"cache_creation_input_tokens":0,'
    '"cache_read_input_tokens":0,"output_tokens":16}}'
)

_COMMON = """\
daemon off;
master_process on;
worker_processes {workers};
{user}pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 8192; multi_accept on; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_timeout 75s;
    keepalive_requests 10000000;
    tcp_nodelay on;
{body}
}}
"""

_CANNED = """\
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location / {{
            default_type application/json;
            return 200 '{completion}';
        }}
        location = /v1/messages {{
            default_type application/json;
            return 200 '{message}';
        }}
    }}"""

_PROXY = """\
    upstream canned {{
        server 127.0.0.1:{upstream_port};
        keepalive 256;
        keepalive_requests 10000000;
    }}
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location / {{
            proxy_pass http://canned;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}"""


def nginx_binary() -> str:
    """The nginx executable (Debian installs it in /usr/sbin, often outside a user's PATH)."""
    found = shutil.which("nginx")
    if found is None and os.path.exists("/usr/sbin/nginx"):
        found = "/usr/sbin/nginx"
    if found is None:
        raise RuntimeError("nginx is not installed: apt-get install nginx-light (or `make bench`)")
    return found


def nginx_version() -> str:
    out = subprocess.run([nginx_binary(), "-v"], capture_output=True, text=True, timeout=10)
    return (out.stderr or out.stdout).strip().removeprefix("nginx version: ")


def _user_line() -> str:
    # As root the workers would switch to "nobody"; keep them as the invoking user instead.
    if os.geteuid() != 0:
        return ""
    return f"user {pwd.getpwuid(os.geteuid()).pw_name};\n"


def canned_config(directory: Path, port: int, workers: int) -> str:
    body = _CANNED.format(port=port, completion=CANNED_COMPLETION, message=CANNED_MESSAGE)
    return _COMMON.format(workers=workers, user=_user_line(), dir=directory, body=body)


def proxy_config(directory: Path, port: int, upstream_port: int, workers: int) -> str:
    body = _PROXY.format(port=port, upstream_port=upstream_port)
    return _COMMON.format(workers=workers, user=_user_line(), dir=directory, body=body)


class Nginx:
    """One foreground nginx with its own prefix directory; ``stop()`` sends SIGQUIT."""

    def __init__(self, name: str, directory: Path, config_text: str, port: int) -> None:
        self.name = name
        self.port = port
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.conf = directory / "nginx.conf"
        self.conf.write_text(config_text)
        command = [
            nginx_binary(),
            "-p",
            str(directory),
            "-c",
            str(self.conf),
            "-e",
            str(directory / "error.log"),
        ]
        check = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"nginx ({name}) rejected its config:\n{check.stderr}")
        self.log = open(directory / "stderr.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for_port(port, 10.0, self.process, name)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful stop
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes], name: str) -> None:
    """Poll until 127.0.0.1:port accepts a connection; fail if the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)  # poll interval, not a wait for the server
    raise RuntimeError(f"{name} did not listen on 127.0.0.1:{port} within {timeout}s")
