"""Small helpers the text service tests share: a stub on a target, and reading streams whole."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import grpc

from hearth.text.v1 import text_service_pb2 as pb
from hearth.text.v1 import text_service_pb2_grpc as pb_grpc

CALL_TIMEOUT = 300.0
STORY_PROMPT = "Once upon a time, in a small village by the sea,"


@contextmanager
def text_stub(target: str) -> Iterator[pb_grpc.TextGenerationServiceStub]:
    with grpc.insecure_channel(target) as channel:
        yield pb_grpc.TextGenerationServiceStub(channel)


@dataclass
class StreamResult:
    """Everything one GenerateStream call sent."""

    deltas: list[str] = field(default_factory=list)
    token_ids: list[int] = field(default_factory=list)
    final: pb.GenerateStreamResponse | None = None

    @property
    def text(self) -> str:
        return "".join(self.deltas)


def read_stream(stub: pb_grpc.TextGenerationServiceStub, request: pb.GenerateStreamRequest) -> StreamResult:
    result = StreamResult()
    for message in stub.GenerateStream(request, timeout=CALL_TIMEOUT):
        result.deltas.append(message.text)
        result.token_ids.extend(message.token_ids)
        if message.finish_reason != pb.FINISH_REASON_UNSPECIFIED:
            result.final = message
    return result


def stream_request(prompt: str = STORY_PROMPT, **sampling: object) -> pb.GenerateStreamRequest:
    return pb.GenerateStreamRequest(params=pb.TextParams(prompt=prompt, sampling=pb.SamplingParams(**sampling)))


def unary_request(prompt: str = STORY_PROMPT, **sampling: object) -> pb.GenerateRequest:
    return pb.GenerateRequest(params=pb.TextParams(prompt=prompt, sampling=pb.SamplingParams(**sampling)))


def model_stats(stub: pb_grpc.TextGenerationServiceStub) -> pb.EngineStats:
    return stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=CALL_TIMEOUT).stats
