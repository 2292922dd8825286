"""The OpenAI wire protocol (Chat Completions, Completions, Embeddings, Models), sans-IO.

The gateway's internal chat form is OpenAI's: a chat completion and its stream chunk.

    requests   request Structs and their documented bounds
    decode     a client's body into a request Struct (shape bounds, 400s naming the param)
    rewrite    the body for the upstream: model renamed, stream usage asked for
    usage      the usage object and reading it from an answer or an event
    responses  completions, embedding lists and model lists read whole
    chunks     stream chunks and their SSE framing
    errors     the error body, written and read
    failures   what a failed answer means for routing (statuses, error codes, Retry-After)
    ratelimit  the upstream's x-ratelimit-* headers, renamed for the client

Import from the submodules: this package imports nothing, so ``fastgw.errors`` can use
``errors`` here without an import cycle.
"""
