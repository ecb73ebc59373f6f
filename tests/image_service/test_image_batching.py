"""Batching, cancellation and deadlines on the running service, observed through stats, replies and logs."""

import time
from collections.abc import Callable

import grpc
import pytest

from hearth.image.v1 import image_service_pb2 as pb
from tests.image_service.image_client import generate, image_params, image_stub, log_records, pixels
from tests.service_processes import ServiceProcess


def wait_until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_four_concurrent_compatible_requests_run_as_one_call_with_the_images_they_get_alone(
    image_service: ServiceProcess,
) -> None:
    with image_stub(image_service) as stub:
        blocker = stub.GenerateStream(
            pb.GenerateStreamRequest(params=image_params(num_inference_steps=150, scheduler="euler")), timeout=120
        )
        next(blocker)  # the worker is busy: what arrives now waits together
        requests = [
            pb.GenerateRequest(params=image_params(prompt=f"house number {i}", seed=600 + i), request_id=f"batched-{i}")
            for i in range(4)
        ]
        futures = [stub.Generate.future(request, timeout=120) for request in requests]
        wait_until(lambda: stub.GetModelInfo(pb.GetModelInfoRequest()).stats.queued_requests == 4)
        blocker.cancel()
        batched = [future.result() for future in futures]
        stats = stub.GetModelInfo(pb.GetModelInfoRequest()).stats
        alone = [generate(stub, prompt=f"house number {i}", seed=600 + i) for i in range(4)]

    assert [reply.timings.batch_size for reply in batched] == [4, 4, 4, 4]
    assert stats.last_batch_requests == 4
    assert stats.peak_batch_requests >= 4
    assert [reply.timings.batch_size for reply in alone] == [1, 1, 1, 1]
    call = log_records(image_service, "pipeline call", "batched-0")
    assert [(line["requests"], line["images"], sorted(line["request_ids"])) for line in call] == [
        (4, 4, [f"batched-{i}" for i in range(4)])
    ]
    for together, single in zip(batched, alone, strict=True):
        assert together.images[0].seed == single.images[0].seed
        # Batched kernels may round differently in the last bit; the picture is the same.
        assert abs(pixels(together.images[0].data) - pixels(single.images[0].data)).max() <= 2


def test_incompatible_concurrent_requests_all_succeed_in_separate_calls(image_service: ServiceProcess) -> None:
    variants = [
        {"width": 64, "height": 96},
        {"num_inference_steps": 2},
        {"scheduler": "ddim"},
        {"guidance_scale": 1.0, "negative_prompt": "fog"},
    ]
    with image_stub(image_service) as stub:
        futures = [stub.Generate.future(pb.GenerateRequest(params=image_params(**v)), timeout=120) for v in variants]
        replies = [future.result() for future in futures]

    assert [reply.timings.batch_size for reply in replies] == [1, 1, 1, 1]
    assert [(reply.images[0].width, reply.images[0].height) for reply in replies] == [(64, 96)] + [(64, 64)] * 3


def test_a_stream_cancelled_at_step_2_of_50_stops_its_call_and_the_next_request_runs(
    image_service: ServiceProcess,
) -> None:
    with image_stub(image_service) as stub:
        request = pb.GenerateStreamRequest(
            params=image_params(num_inference_steps=50, width=256, height=256), request_id="cancel-at-2"
        )
        call = stub.GenerateStream(request, timeout=120)
        for message in call:
            if message.progress.step == 2:
                call.cancel()
                break
        after = generate(stub, request_id="after-cancel")
        stats = stub.GetModelInfo(pb.GetModelInfoRequest()).stats

    [cancelled_call] = log_records(image_service, "pipeline call", "cancel-at-2")
    assert cancelled_call["outcome"] == "abandoned"
    assert cancelled_call["steps_done"] <= 2 + 5, "the call went on for more than a few steps"
    assert [line["outcome"] for line in log_records(image_service, "request", "cancel-at-2")] == ["cancelled"]
    assert len(after.images) == 1
    assert (stats.active_requests, stats.queued_requests) == (0, 0)


def test_a_request_past_its_deadline_is_refused_and_its_call_stops(image_service: ServiceProcess) -> None:
    with image_stub(image_service) as stub:
        with pytest.raises(grpc.RpcError) as expired:
            stub.Generate(
                pb.GenerateRequest(
                    params=image_params(num_inference_steps=150, width=512, height=512), request_id="expires"
                ),
                timeout=1.0,
            )
        after = generate(stub)

    assert expired.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    [expired_call] = log_records(image_service, "pipeline call", "expires")
    assert expired_call["outcome"] == "abandoned"
    assert expired_call["steps_done"] < 150
    assert len(after.images) == 1
