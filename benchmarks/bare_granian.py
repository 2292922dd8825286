"""The ceiling for any Granian app: a bare RSGI app that reads the body and answers canned JSON.

    granian --interface rsgi --loop uvloop --workers 1 --no-ws \
        --app-dir benchmarks bare_granian:app

``run.py`` starts it with the same interface, loop and worker count as fastgw and measures it
beside fastgw, so the table shows how much of Granian's own request rate fastgw keeps.
"""

from __future__ import annotations

from typing import Any

from _nginx import CANNED_COMPLETION

_BODY = CANNED_COMPLETION.encode()
_HEADERS = [("content-type", "application/json")]


class BareApp:
    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        await proto()
        proto.response_bytes(200, _HEADERS, _BODY)


app = BareApp()
