"""A whole Gemini ``generateContent`` answer as an OpenAI chat completion (sans-IO), and the
``Translation`` of one chat call (answers whole or streamed).

Rules this module keeps:
- Only the first candidate is read (requests ask for one). Text parts are the content, parts
  marked ``thought`` the ``reasoning_content``; each ``functionCall`` is a tool call with an
  id made from the request id and its index (Gemini gives none), its ``args`` forwarded as
  sent, and its ``thoughtSignature`` as ``extra_content.google.thought_signature`` (how
  Google's own OpenAI-compatible endpoint carries it), so the next turn can send it back.
- Finish: STOP is ``stop`` (``tool_calls`` when a function call was returned), MAX_TOKENS
  ``length``, the safety family ``content_filter``, anything else ``stop``.
- A prompt blocked before any candidate (``promptFeedback.blockReason``) is a 400
  ``content_policy`` error; a 200 body that cannot be read a 502 ``protocol`` error.
- Usage: prompt = promptTokenCount + toolUsePromptTokenCount, cached =
  cachedContentTokenCount, completion = candidatesTokenCount + thoughtsTokenCount,
  reasoning = thoughtsTokenCount.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..openai.translate import ChunkWriter, completion_body, error_answer
from .errors import error_answer_of, retry_after
from .mapping import blocked_message, call_seed, finish_reason, usage_of
from .stream import GeminiStream
from .wire import GenerateContentResponse, decode_response


def completion_of(
    answer: GenerateContentResponse, id: str, model: str, created: int, seed: str
) -> tuple[int, bytes]:
    """OpenAI's status and body of a decoded 200 answer."""
    if not answer.candidates:
        feedback = answer.prompt_feedback
        if feedback is not None and feedback.block_reason:
            why = blocked_message(feedback.block_reason, feedback.block_reason_message)
            return error_answer("content_policy", why)
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    reason = None
    if answer.candidates:
        candidate = answer.candidates[0]
        reason = candidate.finish_reason
        for part in candidate.content.parts if candidate.content is not None else ():
            if part.function_call is not None:
                call = part.function_call
                args = bytes(call.args).decode()
                tool: dict[str, Any] = {
                    "id": f"call_{seed}_{len(calls)}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": args},
                }
                if part.thought_signature:
                    google = {"thought_signature": part.thought_signature}
                    tool["extra_content"] = {"google": google}
                calls.append(tool)
            elif part.text is not None:
                (thoughts if part.thought else texts).append(part.text)
    content = "".join(texts) if texts or not calls else None
    message: dict[str, Any] = {"content": content}
    message["refusal"] = None
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if calls:
        message["tool_calls"] = calls
    model = answer.model_version or model
    finish = finish_reason(reason, bool(calls))
    return 200, completion_body(
        id, model, created, message, finish, usage_of(answer.usage_metadata)
    )


class ChatTranslation:
    """One chat call's way back from Gemini (``fastgw.providers.translated.Translation``)."""

    __slots__ = ("created", "id", "include_usage", "model", "retry_after", "seed")

    def __init__(self, request_id: str, model: str, created: int, include_usage: bool) -> None:
        self.id = f"chatcmpl-{request_id}"
        self.model = model
        self.created = created
        self.include_usage = include_usage
        self.seed = call_seed(request_id)
        self.retry_after: bytes | None = None  # a 429's RetryInfo, once answer() read it

    def answer(self, status: int, body: bytes) -> tuple[int, bytes]:
        if status != 200:
            if status == 429:
                self.retry_after = retry_after(body)
            return error_answer_of(status, body)
        try:
            answer = decode_response(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return error_answer("protocol", f"Gemini's answer could not be read: {exc}")
        if answer.error is not None:
            return error_answer_of(answer.error.code or 500, body)
        return completion_of(answer, self.id, self.model, self.created, self.seed)

    def stream(self) -> GeminiStream:
        writer = ChunkWriter(self.id, self.model, self.created, self.include_usage)
        return GeminiStream(writer, self.seed)
