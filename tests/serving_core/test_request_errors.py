"""The error contract's gRPC form: every refusal's status carries ErrorInfo, and the documented reasons."""

import grpc
import pytest
from google.protobuf import message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from serving_core.request_errors import (
    ERROR_DOMAIN,
    Cancelled,
    DeadlineExceeded,
    InvalidField,
    NotReady,
    OutOfDeviceMemory,
    QueueFull,
    Reason,
    RequestError,
    ShuttingDown,
    to_status,
)
from tests.conftest import REPO_ROOT

PROTOS = ["protos/hearth/text/v1/text_service.proto", "protos/hearth/image/v1/image_service.proto"]


def _details(error: RequestError) -> tuple[grpc.StatusCode, list[message.Message]]:
    status = to_status(error)
    proto = status_pb2.Status.FromString(dict(status.trailing_metadata)[rpc_status.GRPC_DETAILS_METADATA_KEY])
    unpacked: list[message.Message] = []
    for detail in proto.details:
        for kind in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest, error_details_pb2.RetryInfo):
            if detail.Is(kind.DESCRIPTOR):
                unpacked.append(kind())
                detail.Unpack(unpacked[-1])
    return status.code, unpacked


@pytest.mark.parametrize(
    ("error", "code", "reason"),
    [
        (InvalidField("sampling.top_p", "must be in (0, 1]; got 2"), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_FIELD"),
        (QueueFull("queue full"), grpc.StatusCode.RESOURCE_EXHAUSTED, "QUEUE_FULL"),
        (OutOfDeviceMemory("out of device memory"), grpc.StatusCode.RESOURCE_EXHAUSTED, "OUT_OF_MEMORY"),
        (NotReady("loading"), grpc.StatusCode.UNAVAILABLE, "LOADING"),
        (ShuttingDown("draining"), grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN"),
        (DeadlineExceeded("too late"), grpc.StatusCode.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"),
        (Cancelled("dropped"), grpc.StatusCode.CANCELLED, "CANCELLED"),
        (RequestError("a bug"), grpc.StatusCode.INTERNAL, "INTERNAL"),
    ],
)
def test_every_refusal_carries_its_reason_in_the_hearth_domain(
    error: RequestError, code: grpc.StatusCode, reason: str
) -> None:
    status_code, details = _details(error)
    assert status_code == code
    assert details[0] == error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN)


def test_a_bad_field_names_it_and_a_full_queue_says_when_to_retry() -> None:
    _, field_details = _details(InvalidField("sampling.stop[1]", "at most 128 bytes; got 129"))
    violation = field_details[1].field_violations[0]
    assert (violation.field, violation.description) == ("sampling.stop[1]", "at most 128 bytes; got 129")
    _, queue_details = _details(QueueFull("queue full", retry_after_seconds=3))
    assert queue_details[1].retry_delay.seconds == 3
    assert len(_details(OutOfDeviceMemory("no memory"))[1]) == 1


@pytest.mark.parametrize("proto", PROTOS)
def test_the_protos_document_every_reason(proto: str) -> None:
    text = (REPO_ROOT / proto).read_text()
    assert f'domain "{ERROR_DOMAIN}"' in text
    for reason in Reason:
        assert f"//   {reason.value} " in text, reason
