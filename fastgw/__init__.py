"""fastgw: a high-throughput, OpenAI-compatible LLM gateway."""

from ._version import __version__
from .app import Gateway, create_app
from .config import Config, ConfigError, load_config, parse_config
from .errors import GatewayError
from .keys import hash_key

__all__ = [
    "Config",
    "ConfigError",
    "Gateway",
    "GatewayError",
    "__version__",
    "create_app",
    "hash_key",
    "load_config",
    "parse_config",
]
