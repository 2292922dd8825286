"""The local token estimates a request is charged when its upstream reports no usage."""

from __future__ import annotations

import pytest

from fastgw.tokens import counted_usage, estimate_messages, estimate_streamed
from fastgw.wire import ChatRequest, CompletionRequest, EmbeddingRequest, Message, Usage


@pytest.mark.parametrize(
    ("text_bytes", "events", "tokens"),
    [(0, 0, 0), (1, 0, 1), (31, 5, 8), (9, 5, 5), (4000, 10, 1000)],
)
def test_streamed_completion_is_four_bytes_a_token_and_one_an_event(
    text_bytes: int, events: int, tokens: int
) -> None:
    """About four bytes a token, and never fewer tokens than events that carried text."""
    assert estimate_streamed(text_bytes, events) == tokens


def test_counted_usage_of_whole_answers() -> None:
    """A chat or text answer: the prompt estimated and its text counted; embeddings: the
    input estimated, no completion."""
    messages = [Message("user", "Tell me something.")]
    chat = ChatRequest("m", messages)
    body = b'{"choices":[{"index":0,"message":{"role":"assistant","content":"abcdefgh"}}]}'
    prompt = estimate_messages(messages)
    assert counted_usage(chat, body) == Usage(prompt, 2, prompt + 2)
    text = CompletionRequest("m", "abcd")
    assert counted_usage(text, b'{"choices":[{"text":"abcdefghi"}]}') == Usage(1, 3, 4)
    assert counted_usage(EmbeddingRequest("m", ["abcd", "efgh"]), b"{}") == Usage(2, 0, 2)
