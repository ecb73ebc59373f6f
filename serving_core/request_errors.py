"""Errors a request can cause, and their gRPC form.

A servicer raises these from validation or admission; ``abort_with`` turns them into the status codes of
shared/DESIGN.md's error table, with a ``google.rpc.BadRequest`` detail that names the field, so clients
in any language can read which field broke which limit.
"""

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status


class RequestError(Exception):
    """A request the service refuses; the message is shown to the client as is."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL


class InvalidField(RequestError):
    """A field is out of range or malformed. The message names the field and the limit."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.description = message


class QueueFull(RequestError):
    """The bounded queue is full: the client should retry later."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class OutOfDeviceMemory(RequestError):
    """The device ran out of memory for this request; the service itself keeps serving."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class NotReady(RequestError):
    """The model is still loading or the service is shutting down."""

    code = grpc.StatusCode.UNAVAILABLE


def to_status(error: RequestError) -> grpc.Status:
    """The rich gRPC status for an error: code, message and, for a bad field, a BadRequest detail."""
    status = status_pb2.Status(code=getattr(code_pb2, error.code.name), message=str(error))
    if isinstance(error, InvalidField):
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=error.field, description=error.description)
                ]
            )
        )
        status.details.append(detail)
    return rpc_status.to_status(status)


async def abort_with(context: grpc.aio.ServicerContext, error: RequestError) -> None:
    """Ends the RPC with the error's status; never returns."""
    await context.abort_with_status(to_status(error))
