"""Helpers for testing fastgw and testing against it.

- ``GatewayProcess``: a real ``fastgw serve`` on a free loopback port, ready when it returns.
- ``free_port``: a free TCP port on 127.0.0.1.
"""

from .process import GatewayProcess, free_port

__all__ = ["GatewayProcess", "free_port"]
