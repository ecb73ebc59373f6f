"""Optional bearer-token auth for the API routes (health, docs and static pages stay open)."""

import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from http_gateway.errors import ApiError

_bearer = HTTPBearer(auto_error=False, description="the gateway's HEARTH_GATEWAY_API_KEY")


def bearer_guard(api_key: str) -> Callable[..., Awaitable[None]]:
    """A dependency that admits requests carrying ``Authorization: Bearer <api_key>``.

    Declared through FastAPI's HTTPBearer so the OpenAPI schema names the scheme and /docs offers it.
    """

    async def require_bearer(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
        if credentials is None or not secrets.compare_digest(credentials.credentials.encode(), api_key.encode()):
            raise ApiError(
                401,
                "missing or wrong bearer token: send 'Authorization: Bearer <HEARTH_GATEWAY_API_KEY>'",
                type="authentication_error",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return require_bearer
