"""A Gemini ``streamGenerateContent?alt=sse`` stream as OpenAI chunk events (sans-IO).

Each SSE event is a whole ``GenerateContentResponse`` JSON. Rules this module keeps:
- Events are translated as they complete, in chunks cut anywhere (``SSEParser``, bounded by
  ``MAX_EVENT_BYTES``). A chunk that is exactly one CRLF-framed ``data:`` event with
  nothing held (how Gemini sends them) skips the parser: half the cost per chunk.
- Text parts are content deltas, ``thought`` parts reasoning deltas, and each
  ``functionCall`` part (Gemini sends them whole) a tool call start followed at once by its
  arguments, in deltas of at most ``ARGUMENT_DELTA`` characters, never held back.
- The first event that carries anything opens with OpenAI's role chunk; the event with a
  ``finishReason`` gives the finish chunk; the usage is the last ``usageMetadata`` seen, sent
  as the usage chunk at the end when the client or the gateway asked for it, then ``[DONE]``.
- An event that is not valid JSON raises ``UpstreamProtocolError``; an error object inside
  the stream (``{"error": ...}``) or a prompt blocked before any candidate becomes OpenAI's
  SSE error event, after which nothing more is sent (no ``[DONE]``); a body that ends before
  a ``finishReason`` raises ``UpstreamProtocolError``.
"""

from __future__ import annotations

import msgspec

from ...errors import UpstreamProtocolError
from ..openai.translate import DONE, ChunkWriter, error_event
from ..sse import MAX_EVENT_BYTES, SSEParser
from .errors import error_kind
from .mapping import blocked_message, finish_reason, usage_of
from .wire import GenerateContentResponse, UsageMetadata, decode_response

ARGUMENT_DELTA = 128  # characters of a tool call's arguments per delta


class GeminiStream:
    """One stream's translation (``fastgw.providers.translated.StreamTranslator``)."""

    __slots__ = ("_calls", "_failed", "_finish", "_parser", "_seed", "_started", "_usage", "_w")

    def __init__(self, writer: ChunkWriter, seed: str) -> None:
        self._w = writer
        self._seed = seed
        self._parser = SSEParser()
        self._started = False
        self._calls = 0
        self._finish: str | None = None
        self._usage: UsageMetadata | None = None
        self._failed = False

    def feed(self, chunk: bytes) -> bytes:
        if self._failed:
            return b""
        if (
            chunk[:6] == b"data: "
            and chunk[-4:] == b"\r\n\r\n"
            and chunk.count(b"\n") == 2
            and len(chunk) <= MAX_EVENT_BYTES
            and not self._parser.held()
        ):
            payloads = [chunk[6:-4]]  # one whole event, as Gemini sends them: no parsing
        else:
            payloads = [event.data for event in self._parser.feed(chunk)]
            if not payloads:
                return b""
        out: list[bytes] = []
        for payload in payloads:
            try:
                answer = decode_response(payload)
            except (msgspec.DecodeError, msgspec.ValidationError):
                raise UpstreamProtocolError(
                    "Gemini sent a stream event that is not valid JSON."
                ) from None
            if not self._translate(answer, out):
                break
        return b"".join(out)

    def _translate(self, answer: GenerateContentResponse, out: list[bytes]) -> bool:
        """Append ``answer``'s chunks to ``out``; False once the stream failed."""
        w = self._w
        if answer.error is not None:
            kind = error_kind(answer.error, answer.error.code)
            out.append(error_event(kind, answer.error.message or "Gemini failed mid-stream."))
            self._failed = True
            return False
        if answer.usage_metadata is not None:
            self._usage = answer.usage_metadata
        if not answer.candidates:
            feedback = answer.prompt_feedback
            if feedback is not None and feedback.block_reason:
                message = blocked_message(feedback.block_reason, feedback.block_reason_message)
                out.append(error_event("content_policy", message))
                self._failed = True
                return False
            return True
        if not self._started:
            self._started = True
            out.append(w.role())
        candidate = answer.candidates[0]
        if candidate.content is not None:
            for part in candidate.content.parts:
                call = part.function_call
                if call is not None:
                    index = self._calls
                    self._calls += 1
                    extra = None
                    if part.thought_signature:
                        extra = {"google": {"thought_signature": part.thought_signature}}
                    out.append(w.tool_call(index, f"call_{self._seed}_{index}", call.name, extra))
                    args = bytes(call.args).decode()
                    for at in range(0, len(args), ARGUMENT_DELTA):
                        out.append(w.arguments(index, args[at : at + ARGUMENT_DELTA]))
                elif part.text:
                    out.append(w.reasoning(part.text) if part.thought else w.text(part.text))
        if candidate.finish_reason is not None and self._finish is None:
            self._finish = finish_reason(candidate.finish_reason, self._calls > 0)
            out.append(w.finish(self._finish))
        return True

    def end(self) -> bytes:
        if self._failed:
            return b""
        out = self.feed(b"\n\n") if self._parser.held().strip() else b""
        if self._failed:
            return out
        if self._finish is None:
            raise UpstreamProtocolError("Gemini's stream ended before the answer finished.")
        if self._w.include_usage:
            out += self._w.usage(usage_of(self._usage))
        return out + DONE
