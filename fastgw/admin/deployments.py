"""``GET /admin/deployments``: each deployment's health, load and latency (``routing.admin``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..exchange import Exchange
from ..routing.admin import DeploymentList, health
from .respond import send

if TYPE_CHECKING:
    from .context import AdminContext


async def deployments(state: AdminContext, scope: Any, proto: Any, ex: Exchange) -> None:
    send(proto, ex, 200, DeploymentList(health(state.router)))
