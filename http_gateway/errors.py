"""Every error the gateway answers, in one JSON shape (OpenAI's), and the gRPC status behind it.

The mapping is shared/DESIGN.md's error table, decided by the ``google.rpc.ErrorInfo`` reason the backends
send (a full queue and out of memory share RESOURCE_EXHAUSTED; only the reason tells them apart), never by
a message's words. ``BadRequest`` names the offending field (``param``) and ``RetryInfo`` sets Retry-After.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from pydantic import BaseModel, Field

from serving_core.request_errors import ERROR_DOMAIN, Reason

CONTRACT_CONTAINERS = ("sampling.", "params.")


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


@dataclass(frozen=True)
class _Answer:
    """The HTTP status, error type and message template for one kind of backend failure."""

    status: int
    type: str
    message: str = "{details}"


_INVALID = _Answer(400, "invalid_request_error")
_UNAVAILABLE = _Answer(
    503,
    "service_unavailable",
    "the {backend} backend at {target} is unavailable (down, loading or draining): {details}",
)
_DEADLINE = _Answer(504, "timeout", "the {backend} backend did not answer before the request's deadline: {details}")
_INTERNAL = _Answer(500, "internal_error", "the {backend} backend failed: {details}")
# Keyed by the ErrorInfo reason the backends send or, for a status without one (made by gRPC itself: nothing
# listening, the gateway's own deadline, a message over the size limit), by the status code's name.
_ANSWERS: dict[str, _Answer] = {
    Reason.INVALID_FIELD: _INVALID,
    # The client chose a field this backend's engine cannot honour: a 400, not a 501, because the OpenAI SDK
    # retries every 5xx, and the same request would be refused again.
    Reason.UNSUPPORTED_FIELD: _Answer(400, "invalid_request_error", "the {backend} backend cannot honour {details}"),
    Reason.QUEUE_FULL: _Answer(
        429, "rate_limit_error", "the {backend} backend's queue is full, retry later: {details}"
    ),
    Reason.OUT_OF_MEMORY: _Answer(
        507, "insufficient_resources", "the {backend} backend ran out of device memory for this request: {details}"
    ),
    Reason.LOADING: _UNAVAILABLE,
    Reason.SHUTTING_DOWN: _UNAVAILABLE,
    Reason.DEADLINE_EXCEEDED: _DEADLINE,
    Reason.CANCELLED: _Answer(503, "service_unavailable", "the {backend} backend cancelled the request: {details}"),
    Reason.INTERNAL: _INTERNAL,
    "INVALID_ARGUMENT": _INVALID,
    "OUT_OF_RANGE": _INVALID,
    "FAILED_PRECONDITION": _INVALID,
    "NOT_FOUND": _Answer(404, "not_found_error"),
    "ALREADY_EXISTS": _Answer(409, "conflict_error"),
    "ABORTED": _Answer(409, "conflict_error"),
    "RESOURCE_EXHAUSTED": _Answer(429, "rate_limit_error", "the {backend} backend is out of resources: {details}"),
    "UNAVAILABLE": _UNAVAILABLE,
    "UNIMPLEMENTED": _Answer(501, "not_implemented"),
}


@dataclass(frozen=True)
class _RichDetails:
    """The ``google.rpc`` details a backend packed in its status: reason, first bad field, retry delay."""

    reason: str | None = None
    field: str | None = None
    retry_after_seconds: int | None = None


def from_rpc_error(
    backend: str,
    target: str,
    error: grpc.aio.AioRpcError,
    *,
    retry_after_seconds: int,
    field_names: Mapping[str, str] | None = None,
) -> ApiError:
    """The HTTP error for a failed backend call; ``field_names`` renames contract fields to the route's own.

    The ErrorInfo reason decides; the status code only where the status has none (or a reason this gateway
    does not know). Retry-After is the backend's RetryInfo, else ``retry_after_seconds``.
    """
    code = error.code()
    rich = _rich_details(error)
    param = _param(rich.field, field_names or {})
    details = _renamed_field(error.details() or code.name.lower(), rich.field, param)
    answer = _ANSWERS.get(rich.reason or "") or _ANSWERS.get(code.name, _INTERNAL)
    headers: dict[str, str] = {}
    if answer.status == 429:
        delay = rich.retry_after_seconds
        headers["Retry-After"] = str(delay if delay is not None else retry_after_seconds)
    return ApiError(
        answer.status,
        answer.message.format(backend=backend, target=target, details=details),
        type=answer.type,
        code=code.name.lower(),
        param=param,
        headers=headers,
        backend=backend,
    )


def _param(field: str | None, field_names: Mapping[str, str]) -> str | None:
    """The route's name for a contract field path: ``sampling.stop[1]`` → ``stop[1]``, renamed if asked.

    ``field_names`` keys are contract paths with ``[]`` for any index (``tools[].parameters``); the longest
    one that the path starts with is replaced by its value, which has the same ``[]`` slots, and the path's
    own indices are put back in order: ``tools[2].parameters`` → ``tools[2].function.parameters``.
    """
    if not field:
        return None
    for container in CONTRACT_CONTAINERS:
        field = field.removeprefix(container)
    indices = re.findall(r"\[\d+\]", field)
    shape = re.sub(r"\[\d+\]", "[]", field)
    for contract in sorted(field_names, key=len, reverse=True):
        if shape == contract or shape.startswith((contract + ".", contract + "[")):
            shape = field_names[contract] + shape[len(contract) :]
            break
    first, *rest = shape.split("[]")
    return first + "".join(index + part for index, part in zip(indices, rest, strict=True))


def _renamed_field(details: str, field: str | None, param: str | None) -> str:
    """The backend's message with its leading contract field path (``guided.regex: …``) in the route's words."""
    if field and param and details.startswith(f"{field}: "):
        return f"{param}: {details[len(field) + 2 :]}"
    return details


def _rich_details(error: grpc.aio.AioRpcError) -> _RichDetails:
    """The ErrorInfo reason, first field violation and retry delay packed in the status, where present."""
    try:
        status = rpc_status.from_call(error)
    except ValueError:
        return _RichDetails()
    reason, field, retry_after = None, None, None
    for detail in status.details if status else ():
        bad_request = error_details_pb2.BadRequest()
        retry = error_details_pb2.RetryInfo()
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(bad_request) and bad_request.field_violations:
            field = field or bad_request.field_violations[0].field
        elif detail.Unpack(retry):
            retry_after = max(1, round(retry.retry_delay.ToTimedelta().total_seconds()))
        elif detail.Unpack(info) and info.domain == ERROR_DOMAIN:
            reason = info.reason
    return _RichDetails(reason, field, retry_after)
