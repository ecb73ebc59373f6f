"""Every error the gateway answers, in one JSON shape (OpenAI's), and the gRPC status behind it.

The mapping is shared/DESIGN.md's error table. A backend's ``google.rpc`` details are read when present:
``BadRequest`` names the offending field (``param``), ``RetryInfo`` sets Retry-After and ``ErrorInfo``
tells an out-of-memory refusal apart from a full queue, which share RESOURCE_EXHAUSTED.
"""

import re
from collections.abc import Mapping

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from pydantic import BaseModel, Field

CONTRACT_CONTAINERS = ("sampling.", "params.")
OUT_OF_MEMORY_HINTS = ("out of memory", "out of device memory", "out_of_memory", "out_of_device_memory")


class ErrorDetail(BaseModel):
    """What went wrong, in the shape of OpenAI's API errors."""

    message: str = Field(description="what went wrong, naming the field and the limit where one applies")
    type: str = Field(description="error family, e.g. invalid_request_error, rate_limit_error, service_unavailable")
    param: str | None = Field(None, description="the request field at fault, if any")
    code: str | None = Field(None, description="gRPC status name in lower case, or an HTTP-level code")
    request_id: str | None = Field(None, description="id of the request in the gateway's and backends' logs")


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


class ApiError(Exception):
    """An error the gateway answers with ``status`` and the JSON error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
        backend: str = "gateway",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = dict(headers or {})
        self.backend = backend

    def detail(self, request_id: str | None) -> ErrorDetail:
        return ErrorDetail(
            message=self.message, type=self.type, param=self.param, code=self.code, request_id=request_id
        )


class ClientDisconnected(Exception):
    """The HTTP client went away; there is nobody to answer."""


_STATUS_OF: dict[grpc.StatusCode, tuple[int, str]] = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, "invalid_request_error"),
    grpc.StatusCode.OUT_OF_RANGE: (400, "invalid_request_error"),
    grpc.StatusCode.FAILED_PRECONDITION: (400, "invalid_request_error"),
    grpc.StatusCode.NOT_FOUND: (404, "not_found_error"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "conflict_error"),
    grpc.StatusCode.ABORTED: (409, "conflict_error"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "rate_limit_error"),
    grpc.StatusCode.UNAVAILABLE: (503, "service_unavailable"),
    grpc.StatusCode.CANCELLED: (503, "service_unavailable"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "timeout"),
    grpc.StatusCode.UNIMPLEMENTED: (501, "not_implemented"),
}


def from_rpc_error(
    backend: str,
    target: str,
    error: grpc.aio.AioRpcError,
    *,
    retry_after_seconds: int,
    field_names: Mapping[str, str] | None = None,
) -> ApiError:
    """The HTTP error for a failed backend call; ``field_names`` renames contract fields to the route's own."""
    code = error.code()
    details = error.details() or code.name.lower()
    status, kind = _STATUS_OF.get(code, (500, "internal_error"))
    rich = _rich_details(error)
    param = _param(rich.get("field"), field_names or {})
    headers: dict[str, str] = {}
    message = details
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and _is_out_of_memory(details, rich.get("reason")):
        status, kind = 507, "insufficient_resources"
        message = f"the {backend} backend ran out of device memory for this request: {details}"
    elif code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        delay = rich.get("retry_after")
        headers["Retry-After"] = str(delay if delay is not None else retry_after_seconds)
        message = f"the {backend} backend's queue is full, retry later: {details}"
    elif code == grpc.StatusCode.UNAVAILABLE:
        message = f"the {backend} backend at {target} is unavailable (down, loading or draining): {details}"
    elif code == grpc.StatusCode.CANCELLED:
        message = f"the {backend} backend cancelled the request: {details}"
    elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
        message = f"the {backend} backend did not answer before the request's deadline: {details}"
    elif status == 500:
        message = f"the {backend} backend failed: {details}"
    return ApiError(status, message, type=kind, code=code.name.lower(), param=param, headers=headers, backend=backend)


def _param(field: str | None, field_names: Mapping[str, str]) -> str | None:
    """The route's name for a contract field path: ``sampling.stop[1]`` → ``stop[1]``, renamed if asked."""
    if not field:
        return None
    for container in CONTRACT_CONTAINERS:
        field = field.removeprefix(container)
    base = re.split(r"[.\[]", field, maxsplit=1)[0]
    return field_names.get(base, base) + field[len(base) :]


def _is_out_of_memory(details: str, reason: str | None) -> bool:
    text = f"{details} {reason or ''}".lower()
    return any(hint in text for hint in OUT_OF_MEMORY_HINTS)


def _rich_details(error: grpc.aio.AioRpcError) -> dict[str, str | int | None]:
    """The first field violation, retry delay and error reason packed in the status, where present."""
    found: dict[str, str | int | None] = {}
    try:
        status = rpc_status.from_call(error)
    except ValueError:
        return found
    for detail in status.details if status else ():
        bad_request = error_details_pb2.BadRequest()
        retry = error_details_pb2.RetryInfo()
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(bad_request) and bad_request.field_violations:
            found.setdefault("field", bad_request.field_violations[0].field)
        elif detail.Unpack(retry):
            found["retry_after"] = max(1, round(retry.retry_delay.ToTimedelta().total_seconds()))
        elif detail.Unpack(info):
            found["reason"] = info.reason
    return found
