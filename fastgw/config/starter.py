"""The starter config ``fastgw init`` writes: it serves at once, with the embedded mock
provider, and shows where a real upstream goes.

Rules this module keeps:
- The text passes ``fastgw check-config`` as written, with no environment variable set (the
  OpenAI provider is there commented out, so it needs no key until it is turned on).
- It holds the hash of one new gateway key, never the key itself: the CLI prints the key once.
"""

from __future__ import annotations

STARTER = """\
# fastgw: a starter configuration written by `fastgw init`.
# Every option, with its default, is documented in config/fastgw.example.toml of the source.
# Check a change with `fastgw check-config PATH`; serve with `fastgw serve --config PATH`.

[server]
host = "127.0.0.1"
port = 8080
workers = 1

# The embedded mock provider: deterministic answers, no network, no upstream key.
[providers.mock]
type = "mock"
tokens = 16

# A real upstream: uncomment, export OPENAI_API_KEY (the key never goes in this file), and
# point a model's deployment at provider = "openai".
# [providers.openai]
# type = "openai"
# base_url = "https://api.openai.com/v1"
# api_key_env = "OPENAI_API_KEY"

# What clients put in `model`, and where each request goes.
[[models]]
name = "gpt-4o-mini"
deployments = [{{ provider = "mock", model = "mock-gpt-4o-mini" }}]
# deployments = [{{ provider = "openai", model = "gpt-4o-mini" }}]

[[models]]
name = "text-embedding-3-small"
deployments = [{{ provider = "mock", model = "mock-embedding-3-small" }}]

# A gateway key, stored as its SHA-256 hash. Make more with `fastgw hash-key --new`.
[[keys]]
id = "{key_id}"
hash = "{key_hash}"
models = ["*"]
"""


def starter_config(key_id: str, key_hash: str) -> str:
    """The starter TOML with one key (``key_hash``: ``sha256:<hex>``, from ``hash_key``)."""
    return STARTER.format(key_id=key_id, key_hash=key_hash)
