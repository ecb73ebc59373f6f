"""Errors a request can cause, and their gRPC form: a status code plus ``google.rpc`` details.

A servicer raises these from validation, admission or generation; ``abort_with`` turns them into the status
codes of shared/DESIGN.md's error table. Every status carries a ``google.rpc.ErrorInfo`` whose ``reason`` is
one of ``Reason`` in the domain ``hearth`` (one vocabulary for both model services: a client already knows
which service it called), so clients, the gateway included, decide by reason and never by a message's
words. A bad field also carries a ``BadRequest`` naming it, and a full queue a ``RetryInfo``.
"""

from enum import StrEnum

import grpc
from google.protobuf import any_pb2, duration_pb2, message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

ERROR_DOMAIN = "hearth"
RETRY_AFTER_SECONDS = 1


class Reason(StrEnum):
    """The stable ``ErrorInfo.reason`` values; the protos' comments list the same ones."""

    INVALID_FIELD = "INVALID_FIELD"
    QUEUE_FULL = "QUEUE_FULL"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    LOADING = "LOADING"
    SHUTTING_DOWN = "SHUTTING_DOWN"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    CANCELLED = "CANCELLED"
    UNSUPPORTED_FIELD = "UNSUPPORTED_FIELD"
    INTERNAL = "INTERNAL"


class RequestError(Exception):
    """A request the service refuses; the message is shown to the client as is. The base class is a bug."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    reason: Reason = Reason.INTERNAL

    def details(self) -> list[message.Message]:
        """The ``google.rpc`` detail messages besides ErrorInfo that this error adds to its status."""
        return []


class InvalidField(RequestError):
    """A field is out of range or malformed. The message names the field and the limit."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = Reason.INVALID_FIELD

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.description = message

    def details(self) -> list[message.Message]:
        violation = error_details_pb2.BadRequest.FieldViolation(field=self.field, description=self.description)
        return [error_details_pb2.BadRequest(field_violations=[violation])]


class UnsupportedField(InvalidField):
    """The request set a field this service's engine cannot honour; refused rather than silently ignored.

    UNIMPLEMENTED, but with its own reason and a BadRequest naming the field: the client chose the field and
    can drop it, so it is no server fault to retry (the gateway answers 400, not 501).
    """

    code = grpc.StatusCode.UNIMPLEMENTED
    reason = Reason.UNSUPPORTED_FIELD


class QueueFull(RequestError):
    """The bounded queue is full: the client should retry after ``retry_after_seconds``."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = Reason.QUEUE_FULL

    def __init__(self, message: str, retry_after_seconds: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds

    def details(self) -> list[message.Message]:
        return [error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=self.retry_after_seconds))]


class OutOfDeviceMemory(RequestError):
    """The device ran out of memory for this request; the service itself keeps serving."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = Reason.OUT_OF_MEMORY


class NotReady(RequestError):
    """The model is still loading (or its engine is starting again): retry once health reports SERVING."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = Reason.LOADING


class ShuttingDown(NotReady):
    """The service is draining and takes no new work; another replica, or the restarted one, will."""

    reason = Reason.SHUTTING_DOWN


class DeadlineExceeded(RequestError):
    """The request's deadline passed before its result was ready; its work was stopped."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED
    reason = Reason.DEADLINE_EXCEEDED


class Cancelled(RequestError):
    """The service dropped the request itself (not at the client's asking) before it finished."""

    code = grpc.StatusCode.CANCELLED
    reason = Reason.CANCELLED


def _packed(detail: message.Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(detail)
    return packed


def to_status(error: RequestError) -> grpc.Status:
    """The rich gRPC status for an error: code, message, ErrorInfo and the error's own details."""
    info = error_details_pb2.ErrorInfo(reason=error.reason.value, domain=ERROR_DOMAIN)
    status = status_pb2.Status(code=getattr(code_pb2, error.code.name), message=str(error))
    status.details.extend(_packed(detail) for detail in [info, *error.details()])
    return rpc_status.to_status(status)


async def abort_with(context: grpc.aio.ServicerContext, error: RequestError) -> None:
    """Ends the RPC with the error's status; never returns."""
    await context.abort_with_status(to_status(error))
