"""What a route's helper for one backend shares with the other's: the call wrapper, metrics, ids."""

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request

from http_gateway.backends import Backend
from http_gateway.gateway_state import GatewayState, gateway_state
from http_gateway.grpc_calls import BackendCall
from http_gateway.request_tracking import request_id_of, route_of


class RouteCalls:
    """One HTTP request's view of one backend: deadline and error translation, its metrics labels and id."""

    def __init__(
        self, backend: Backend, state: GatewayState, request: Request, field_names: Mapping[str, str] | None
    ) -> None:
        self._call = BackendCall(
            backend, retry_after_seconds=state.settings.retry_after_seconds, field_names=field_names
        )
        self._metrics = state.metrics
        self._route = route_of(request.scope)
        self.request_id = request_id_of(request.scope) or ""


Calls = TypeVar("Calls", bound=RouteCalls)


def route_calls(kind: type[Calls], field_names: Mapping[str, str] | None = None) -> Any:
    """A FastAPI dependency giving the route a ``kind`` (TextCalls, ImageCalls) for the current request.

    ``field_names`` renames the contract's field names in error messages' ``param`` to the route's own.
    """

    def dependency(request: Request, state: Annotated[GatewayState, Depends(gateway_state)]) -> Calls:
        return kind(state, request, field_names)  # type: ignore[call-arg]

    return Depends(dependency)
