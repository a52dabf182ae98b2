"""What every route needs: settings, the warehouse, the bus, and who is asking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from api.auth import ANONYMOUS, Principal, TokenTable
from api.nodes import NodeRef
from api.publish import Publisher
from api.settings import ApiLimits
from api.store import Warehouse

__all__ = ["ApiContext", "Caller", "Context", "bounded", "not_found"]


@dataclass
class ApiContext:
    warehouse: Warehouse
    publisher: Publisher | None
    limits: ApiLimits
    tokens: TokenTable | None
    """None: authentication is off (every caller may read and write everything)."""


def _context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.pedigree
    return ctx


Context = Annotated[ApiContext, Depends(_context)]


def _caller(request: Request, ctx: Context) -> Principal:
    if ctx.tokens is None:
        return ANONYMOUS
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            401,
            "missing bearer token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = ctx.tokens.authenticate(token.strip())
    if principal is None:
        challenge = 'Bearer error="invalid_token"'
        raise HTTPException(
            401, "unknown or revoked token", headers={"WWW-Authenticate": challenge}
        )
    return principal


Caller = Annotated[Principal, Depends(_caller)]


def bounded(name: str, value: int | None, default: int, maximum: int, minimum: int = 0) -> int:
    """A request's limit parameter, or a 422 naming the bound it broke."""
    if value is None:
        return default
    if value < minimum or value > maximum:
        raise HTTPException(
            422, f"{name}={value} is out of range: {minimum} <= {name} <= {maximum} (server limit)"
        )
    return value


def not_found(what: NodeRef | str) -> HTTPException:
    """The same answer for "does not exist" and "not yours": no existence leaks across tenants."""
    return HTTPException(404, f"{what} not found (or not in a namespace your token may read)")
