"""The one exception tree of fastgw, and how an error looks on the wire.

    GatewayError                      status  type                   code
    ├── InvalidRequest                400     invalid_request_error  (varies)
    │   └── MalformedJSON             400     invalid_request_error  invalid_json
    ├── AuthenticationFailed          401     invalid_request_error  invalid_api_key
    ├── PermissionDenied              403     invalid_request_error  model_not_allowed
    ├── NotFound                      404     invalid_request_error  not_found | unknown_url
    │   └── ModelNotFound             404     invalid_request_error  model_not_found
    ├── MethodNotAllowed              405     invalid_request_error  method_not_allowed
    ├── RequestTimeout                408     invalid_request_error  request_timeout
    ├── Conflict                      409     invalid_request_error  conflict
    ├── PayloadTooLarge               413     invalid_request_error  payload_too_large
    ├── RateLimited                   429     requests | tokens      rate_limit_exceeded
    ├── QuotaExceeded                 429     insufficient_quota     insufficient_quota
    ├── ServiceUnavailable            503     server_error           service_unavailable
    │   └── StateUnavailable          503     server_error           state_unavailable
    └── UpstreamError                 502     upstream_error         upstream_error
        ├── UpstreamUnreachable       502     upstream_error         upstream_unreachable
        ├── UpstreamProtocolError     502     upstream_error         upstream_protocol_error
        ├── UpstreamStreamError       502     upstream_error         upstream_stream_error
        └── UpstreamTimeout           504     timeout                upstream_timeout

Each class carries the HTTP status and OpenAI error ``type`` so that the OpenAI SDK raises its
matching exception. ``error_body`` renders the one OpenAI error shape (written once, in
``fastgw.protocols.openai.errors``); ``sse_error_event`` renders it as the SSE event that
ends a stream which failed after its headers were sent.
Foreign exceptions (OS errors, timeouts) are mapped in ``fastgw.upstream`` only.
"""

from __future__ import annotations

from typing import Any

# the OpenAI error body is the protocol's (one copy of its Structs); re-exported here
from .protocols.openai.errors import ErrorBody as ErrorBody
from .protocols.openai.errors import ErrorDetail as ErrorDetail
from .protocols.openai.errors import error_body as error_body
from .protocols.openai.errors import error_event

_CLASS_CODE: Any = object()  # default of ``code=``: keep the class's code; ``None`` means null


class GatewayError(Exception):
    """Base of every error fastgw answers with. ``headers`` are added to the response."""

    status = 500
    type = "server_error"
    code: str | None = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = _CLASS_CODE,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not _CLASS_CODE:
            self.code = code
        self.headers = headers or []

    def body(self) -> bytes:
        return error_body(self.message, self.type, self.param, self.code)


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"
    code: str | None = None


class MalformedJSON(InvalidRequest):
    code = "invalid_json"


class AuthenticationFailed(GatewayError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    type = "invalid_request_error"
    code = "model_not_allowed"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class RequestTimeout(GatewayError):
    """The client did not send its request in time (its body: ``server.body_timeout_s``)."""

    status = 408
    type = "invalid_request_error"
    code = "request_timeout"


class Conflict(GatewayError):
    """The admin API refuses a change that clashes with what exists (an id in use, a key
    from the TOML, which only the TOML may change)."""

    status = 409
    type = "invalid_request_error"
    code = "conflict"


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "payload_too_large"


class RateLimited(GatewayError):
    """Over a requests- or tokens-per-minute or parallel limit; ``kind`` is the OpenAI error
    type: ``"requests"`` or ``"tokens"``."""

    status = 429
    type = "requests"
    code = "rate_limit_exceeded"

    def __init__(
        self, message: str, kind: str, *, headers: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(message, headers=headers)
        self.type = kind


class QuotaExceeded(GatewayError):
    """A spend budget (key, team or model; day or month) is used up."""

    status = 429
    type = "insufficient_quota"
    code = "insufficient_quota"


class ServiceUnavailable(GatewayError):
    status = 503
    type = "server_error"
    code = "service_unavailable"


class StateUnavailable(ServiceUnavailable):
    """The shared limit state (Redis) cannot be reached and the policy is to fail closed."""

    code = "state_unavailable"


class UpstreamError(GatewayError):
    status = 502
    type = "upstream_error"
    code = "upstream_error"


class UpstreamUnreachable(UpstreamError):
    code = "upstream_unreachable"


class UpstreamProtocolError(UpstreamError):
    code = "upstream_protocol_error"


class UpstreamStreamError(UpstreamError):
    """A stream whose first event was the upstream's error: nothing was relayed yet, so
    routing may still retry or fall over."""

    code = "upstream_stream_error"


class UpstreamTimeout(UpstreamError):
    status = 504
    type = "timeout"
    code = "upstream_timeout"


def sse_error_event(exc: GatewayError) -> bytes:
    """The event that ends a failed stream; the OpenAI SDKs raise ``APIError`` on it."""
    return error_event(exc.body())
