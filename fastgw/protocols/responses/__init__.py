"""OpenAI's Responses API (``/v1/responses``) as the gateway serves it: translated to and from
chat completions (sans-IO).

- ``request``: a Responses body (and the items of the conversation it continues) read and
  written as a chat completions body; what chat completions cannot carry is refused with a
  400 naming the field.
- ``answer``: a chat completion as a ``response`` object, the ids it uses, the usage.
- ``stream``: the chat completion chunks of a stream as the Responses API's events, each with
  its ``sequence_number``, ending with ``response.completed``, ``response.incomplete`` or
  ``response.failed``.
"""
