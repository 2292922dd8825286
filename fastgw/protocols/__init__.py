"""Wire protocols the gateway speaks, one package each (``openai`` today; ``anthropic``,
``gemini``, ``bedrock``, ``cohere`` next).

Rules every protocol package keeps:
- Sans-IO: Structs, decoding, encoding, usage extraction, stream event parsing and error
  bodies are plain functions and classes, bytes or Structs in and out. No asyncio, sockets or
  Granian; the I/O shells are ``fastgw.providers`` (upstream side) and the proxy (client side).
- Each wire Struct is written once, in its protocol's package, and tested with byte literals.
- Translation goes through the gateway's internal chat form (OpenAI's chat completion and its
  stream chunk), so N protocols need N translators, not N squared.

``failure`` holds the protocol-neutral words a provider uses to tell routing what a failed
answer means; ``sse`` splits Server-Sent Events for the protocols that stream with them.
"""
