"""Google's Gemini API (generateContent, streamGenerateContent, batchEmbedContents), translated
from and to OpenAI's protocol, sans-IO.

    wire      the Structs Gemini's answers are read with (only what is used)
    request   an OpenAI chat request as a generateContent body
    answer    a whole generateContent answer as an OpenAI chat completion; usage; finish
    stream    a streamGenerateContent?alt=sse stream as OpenAI chunk events
    errors    Gemini's error bodies and statuses as OpenAI error kinds
    embed     OpenAI embeddings as batchEmbedContents and back

Import from the submodules.
"""
