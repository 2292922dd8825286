"""The official ``openai`` npm package under Node.js against a real fastgw server.

``tests/node/e2e.mjs`` makes the calls once per module (Node starts in ~0.3 s) and prints a
JSON report of what the SDK saw; each test here asserts one part of it. Skipped, with the
reason, when ``node`` or ``tests/node/node_modules/openai`` is missing (``make test``
installs both).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from fastgw.testing import GatewayProcess
from tests.conftest import DEV_KEY, LIMITED_KEY

NODE_DIR = Path(__file__).resolve().parent.parent / "node"
SCRIPT = NODE_DIR / "e2e.mjs"
NODE = shutil.which("node")
SDK_INSTALLED = (NODE_DIR / "node_modules" / "openai" / "package.json").is_file()

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.node,
    pytest.mark.skipif(NODE is None, reason="node is not on PATH (apt-get install nodejs npm)"),
    pytest.mark.skipif(
        not SDK_INSTALLED,
        reason="the openai npm package is missing: run `cd tests/node && npm install`",
    ),
]

MOCK_TOKENS = 8
PROMPT = [{"role": "user", "content": "Say something deterministic."}]  # as in e2e.mjs


@pytest.fixture(scope="module")
def report(gateway: GatewayProcess) -> dict[str, Any]:
    """What the npm SDK saw, from one run of ``e2e.mjs`` against the module's gateway."""
    assert NODE is not None
    env = {
        **os.environ,
        "FASTGW_BASE_URL": gateway.base_url + "/v1",
        "FASTGW_API_KEY": DEV_KEY,
        "FASTGW_LIMITED_KEY": LIMITED_KEY,
    }
    done = subprocess.run(
        [NODE, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"e2e.mjs failed:\n{done.stderr}\ngateway log:\n{gateway.log()}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_node_chat(report: dict[str, Any]) -> None:
    """A plain chat completion through the npm SDK has content, stop and exact usage."""
    chat = report["chat"]
    assert chat["role"] == "assistant"
    assert chat["finish_reason"] == "stop"
    assert len(chat["content"].split()) == MOCK_TOKENS
    usage = chat["usage"]
    assert usage["completion_tokens"] == MOCK_TOKENS
    assert usage["total_tokens"] == usage["prompt_tokens"] + MOCK_TOKENS


def test_node_request_id_echoed(report: dict[str, Any]) -> None:
    """The client's x-request-id comes back, and the npm SDK exposes it as _request_id."""
    assert report["chat"]["header_request_id"] == "node-e2e-1"
    assert report["chat"]["request_id"] == "node-e2e-1"


def test_node_chat_matches_other_clients(gateway: GatewayProcess, report: dict[str, Any]) -> None:
    """The npm SDK gets byte-for-byte the answer a plain HTTP client gets for the prompt."""
    response = httpx.post(
        gateway.base_url + "/v1/chat/completions",
        json={"model": "gpt-test", "messages": PROMPT},
        headers={"authorization": f"Bearer {DEV_KEY}"},
    )
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == report["chat"]["content"]


def test_node_stream(report: dict[str, Any]) -> None:
    """A streamed chat assembles to the plain answer and ends with a usage chunk."""
    stream = report["stream"]
    assert stream["content"] == report["chat"]["content"]
    assert stream["role"] == "assistant"
    assert stream["finish_reasons"] == ["stop"]
    assert stream["chunks"] == MOCK_TOKENS + 3  # role, one per token, finish, usage
    assert stream["usage"] == report["chat"]["usage"]


def test_node_embeddings(report: dict[str, Any]) -> None:
    """The npm SDK's default base64 embedding decodes to a 1536-dim unit vector."""
    embeddings = report["embeddings"]
    assert embeddings["length"] == 1536
    assert math.isclose(embeddings["norm"], 1.0, abs_tol=1e-4)
    assert embeddings["prompt_tokens"] > 0


def test_node_models(report: dict[str, Any]) -> None:
    """The npm SDK's paginated model list yields every model of the key."""
    assert sorted(report["models"]) == ["embed-test", "gpt-other", "gpt-test"]


@pytest.mark.parametrize(
    ("case", "cls", "status", "code", "param"),
    [
        ("not_found", "NotFoundError", 404, "model_not_found", "model"),
        ("not_found_stream", "NotFoundError", 404, "model_not_found", "model"),
        ("authentication", "AuthenticationError", 401, "invalid_api_key", None),
        ("permission", "PermissionDeniedError", 403, "model_not_allowed", "model"),
        ("bad_request", "BadRequestError", 400, "invalid_type", "max_tokens"),
    ],
)
def test_node_errors(
    report: dict[str, Any], case: str, cls: str, status: int, code: str, param: str | None
) -> None:
    """Each gateway error arrives as the npm SDK's matching class with the OpenAI body."""
    error = report["errors"][case]
    assert error["class"] == cls
    assert (error["status"], error["code"], error["param"]) == (status, code, param)
    assert error["type"] == "invalid_request_error"
    assert set(error["error"]) == {"message", "type", "param", "code"}
    assert error["error"]["code"] == code
    assert error["error"]["message"]
    assert error["request_id"].startswith("req_")
