"""A chat completion written as a Responses API ``response`` object, and the pieces a stream's
events share with it: ids, output items, usage, status (sans-IO).

Rules this module keeps:
- The object has every field the openai SDK's ``Response`` requires, the request's fields
  echoed (``request.to_chat``'s ``echo``), ``error`` and ``incomplete_details`` null unless
  set, so ``response.output_text`` and ``responses.parse`` work on it.
- Output, in order: a ``reasoning`` item when the answer has reasoning (its text as one
  ``summary_text``; Anthropic thinking blocks, signatures included, in
  ``encrypted_content`` for the next turn), a ``message`` with one ``output_text`` (or a
  ``refusal``) when the answer has text or no tool call, then one ``function_call`` item per
  tool call, its ``call_id`` the chat tool call's id.
- ``finish_reason`` "length" is status ``incomplete`` with reason ``max_output_tokens``,
  "content_filter" with reason ``content_filter``; anything else is ``completed``.
- Usage: ``input_tokens`` (cached ones in ``input_tokens_details.cached_tokens``, cache
  writes in ``cache_write_tokens``), ``output_tokens`` (reasoning ones in
  ``output_tokens_details.reasoning_tokens``), ``total_tokens``.
- An error body is OpenAI's shape already (the Responses API's own): passed on unchanged when
  it reads as one, wrapped as one otherwise.
"""

from __future__ import annotations

import os
from typing import Any

import msgspec

from ..openai.errors import error_body, is_error_body
from .request import thinking_content

_encode = msgspec.json.Encoder().encode


def new_id(prefix: str) -> str:
    """An id as OpenAI shapes them: ``resp_``, ``msg_``, ``fc_``, ``rs_`` and 48 hex digits."""
    return prefix + os.urandom(24).hex()


# -- the chat completion, as read ---------------------------------------------------------


class Function(msgspec.Struct):
    name: str = ""
    arguments: str = ""


class ToolCall(msgspec.Struct):
    id: str = ""
    function: Function = msgspec.field(default_factory=Function)


class Message(msgspec.Struct):
    content: str | None = None
    refusal: str | None = None
    reasoning_content: str | None = None
    thinking_blocks: list[Any] | None = None
    tool_calls: list[ToolCall] | None = None


class Choice(msgspec.Struct):
    message: Message = msgspec.field(default_factory=Message)
    finish_reason: str | None = None


class PromptDetails(msgspec.Struct):
    cached_tokens: int = 0
    cache_creation_tokens: int = 0


class CompletionDetails(msgspec.Struct):
    reasoning_tokens: int = 0


class Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_tokens_details: PromptDetails | None = None
    completion_tokens_details: CompletionDetails | None = None


class Completion(msgspec.Struct):
    model: str = ""
    choices: list[Choice] = []
    usage: Usage | None = None


_completion = msgspec.json.Decoder(Completion).decode


def response_usage(usage: Usage | None) -> dict[str, Any]:
    """The chat usage as the Responses API's (zeros when the upstream reported none)."""
    usage = usage or Usage()
    prompt = usage.prompt_tokens_details or PromptDetails()
    completion = usage.completion_tokens_details or CompletionDetails()
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {
            "cached_tokens": prompt.cached_tokens,
            "cache_write_tokens": prompt.cache_creation_tokens,
        },
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": completion.reasoning_tokens},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def status_of(finish_reason: str | None) -> tuple[str, dict[str, str] | None]:
    """The response's status and ``incomplete_details`` for a chat ``finish_reason``."""
    if finish_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish_reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def reasoning_item(id: str, text: str, blocks: list[Any] | None) -> dict[str, Any]:
    item: dict[str, Any] = {"id": id, "type": "reasoning", "summary": []}
    if text:
        item["summary"] = [{"type": "summary_text", "text": text}]
    if blocks:
        item["encrypted_content"] = thinking_content(blocks)
    item["status"] = "completed"
    return item


def message_item(id: str, text: str, refusal: str | None, status: str) -> dict[str, Any]:
    part: dict[str, Any]
    if refusal is not None and not text:
        part = {"type": "refusal", "refusal": refusal}
    else:
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    content = [part]
    return {"id": id, "type": "message", "role": "assistant", "status": status, "content": content}


def function_item(id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {
        "id": id,
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def response_object(
    id: str,
    created_at: int,
    model: str,
    echo: dict[str, Any],
    output: list[dict[str, Any]],
    status: str,
    *,
    incomplete: dict[str, str] | None = None,
    usage: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``response`` object (see the module rules)."""
    return {
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "error": error,
        "incomplete_details": incomplete,
        "model": model,
        "output": output,
        **echo,
        "usage": usage,
    }


def from_completion(
    body: bytes, id: str, created_at: int, model: str, echo: dict[str, Any]
) -> dict[str, Any]:
    """A whole chat completion (``body``) as the response object; raises
    ``msgspec.DecodeError`` when it is not one."""
    completion = _completion(body)
    choice = completion.choices[0] if completion.choices else Choice()
    message = choice.message
    status, incomplete = status_of(choice.finish_reason)
    output: list[dict[str, Any]] = []
    if message.reasoning_content or message.thinking_blocks:
        text = message.reasoning_content or ""
        output.append(reasoning_item(new_id("rs_"), text, message.thinking_blocks))
    calls = message.tool_calls or []
    if message.content or message.refusal is not None or not calls:
        item_status = "incomplete" if status == "incomplete" else "completed"
        text = message.content or ""
        output.append(message_item(new_id("msg_"), text, message.refusal, item_status))
    for call in calls:
        function = call.function
        output.append(
            function_item(new_id("fc_"), call.id, function.name, function.arguments, "completed")
        )
    return response_object(
        id,
        created_at,
        completion.model or model,
        echo,
        output,
        status,
        incomplete=incomplete,
        usage=response_usage(completion.usage),
    )


def encode(obj: Any) -> bytes:
    return _encode(obj)


def error_answer(status: int, body: bytes) -> bytes:
    """An OpenAI error (``status``) as the Responses API's: the same shape, so the body is
    kept when it reads as one."""
    if is_error_body(body):
        return body
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return error_body("The upstream answered with an error.", kind, None, None)


__all__ = [
    "from_completion",
    "function_item",
    "message_item",
    "new_id",
    "reasoning_item",
    "response_object",
    "response_usage",
    "status_of",
]
