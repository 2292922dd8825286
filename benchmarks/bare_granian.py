"""The ceiling for any Granian app: a bare RSGI app that reads the body and answers canned JSON,
or, for ``"stream": true``, streams stamped SSE chunks itself (like ``mock_upstream.py``:
``--chunks`` events ``--delay-ms`` apart, each with ``"x_sent_ns"``).

    granian --interface rsgi --loop uvloop --workers 1 --no-ws \
        --app-dir benchmarks bare_granian:app

``run.py`` starts it with the same interface, loop and worker count as fastgw and measures it
beside fastgw, so the table shows how much of Granian's own request rate fastgw keeps, and how
late Granian alone delivers stream chunks under the same streaming load (the floor of any
Granian app's chunk-forwarding delay).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import msgspec
from _nginx import CANNED_COMPLETION

_BODY = CANNED_COMPLETION.encode()
_HEADERS = [("content-type", "application/json")]
_SSE = [("content-type", "text/event-stream"), ("cache-control", "no-cache")]
_PREFIX = (
    b'data: {"id":"chatcmpl-bare","object":"chat.completion.chunk","created":1700000000,'
    b'"model":"bare","choices":[{"index":0,"delta":{"content":"tok "},"finish_reason":'
)
_CHUNKS = int(os.environ.get("BARE_CHUNKS", "100"))
_DELAY_S = float(os.environ.get("BARE_DELAY_MS", "20")) / 1000


class _Ask(msgspec.Struct):
    stream: bool = False
    mock_chunks: int | None = None


_decode = msgspec.json.Decoder(_Ask).decode


class BareApp:
    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        body = await proto()
        if b'"stream":true' not in body:
            proto.response_bytes(200, _HEADERS, _BODY)
            return
        chunks = _decode(body).mock_chunks or _CHUNKS
        transport = proto.response_stream(200, _SSE)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(chunks):
            if i:
                await asyncio.sleep(start + i * _DELAY_S - loop.time())
            reason = b'"stop"' if i == chunks - 1 else b"null"
            await transport.send_bytes(
                _PREFIX + reason + b'}],"x_sent_ns":%d}\n\n' % time.time_ns()
            )
        await transport.send_bytes(b"data: [DONE]\n\n")


app = BareApp()
