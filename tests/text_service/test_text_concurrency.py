"""Many requests at once on the real service: batching, health while busy, cancellation and deadlines."""

import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import psutil
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hearth.text.v1 import text_service_pb2 as pb
from tests.service_processes import ServiceProcess
from tests.text_service.text_client import CALL_TIMEOUT, model_stats, read_stream, stream_request, text_stub

CONCURRENT_STREAMS = 8
HEALTH_BOUND_SECONDS = 0.1
CANCELLATIONS = 50
RSS_NOISE_BYTES = 64 * 1024 * 1024
LONG_ESSAY = [pb.ChatMessage(role="user", content="Write a very long essay on the history of fire, in ten parts.")]


def _wait_until_idle(stub: object, timeout: float = 60.0) -> pb.EngineStats:
    """The engine's own counts (its scheduler), polled until nothing is active or queued."""
    deadline = time.monotonic() + timeout
    while True:
        stats = model_stats(stub)
        if stats.active_requests == 0 and stats.queued_requests == 0:
            return stats
        assert time.monotonic() < deadline, f"engine still busy: {stats}"
        time.sleep(0.05)


def test_concurrent_streams_complete_and_share_forward_passes(text_service: ServiceProcess) -> None:
    with text_stub(text_service.target) as stub:
        before = _wait_until_idle(stub)
        with ThreadPoolExecutor(CONCURRENT_STREAMS) as pool:
            results = list(
                pool.map(
                    lambda i: read_stream(stub, stream_request(f"Story number {i}: once", max_new_tokens=16)),
                    range(CONCURRENT_STREAMS),
                )
            )
        after = model_stats(stub)
    assert all(r.final is not None and r.text for r in results)
    tokens = after.generated_tokens - before.generated_tokens
    steps = after.decode_steps - before.decode_steps
    assert tokens == sum(r.final.usage.completion_tokens for r in results if r.final)
    assert after.peak_batch_size > 1
    assert tokens / steps > 2, f"{tokens} tokens in {steps} decode steps: the streams were not batched"


def test_health_answers_quickly_while_streams_run(text_service: ServiceProcess) -> None:
    with text_stub(text_service.target) as stub, ThreadPoolExecutor(CONCURRENT_STREAMS) as pool:
        streams = [pool.submit(read_stream, stub, stream_request(max_new_tokens=48)) for _ in range(CONCURRENT_STREAMS)]
        while model_stats(stub).active_requests < CONCURRENT_STREAMS and not any(s.done() for s in streams):
            time.sleep(0.02)
        with grpc.insecure_channel(text_service.target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            latencies = []
            for _ in range(5):
                started = time.perf_counter()
                reply = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
                latencies.append(time.perf_counter() - started)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
                time.sleep(0.1)
            busy = model_stats(stub).active_requests
        for stream in streams:
            assert stream.result().final is not None
    assert busy > 0, "the health checks ran after the streams ended"
    assert max(latencies) < HEALTH_BOUND_SECONDS, latencies


def _cancel_after_first_token(stub: object, max_new_tokens: int) -> None:
    call = stub.GenerateStream(stream_request(max_new_tokens=max_new_tokens), timeout=CALL_TIMEOUT)
    for message in call:
        if message.token_ids:
            break
    call.cancel()


def test_a_cancelled_stream_leaves_the_batch_within_one_step(text_service: ServiceProcess) -> None:
    with text_stub(text_service.target) as stub:
        _wait_until_idle(stub)
        background = stub.GenerateStream(stream_request(max_new_tokens=400), timeout=CALL_TIMEOUT)
        next(background)
        cancelled = stub.GenerateStream(stream_request(max_new_tokens=400), timeout=CALL_TIMEOUT)
        for message in cancelled:
            if message.token_ids:
                break
        assert model_stats(stub).active_requests == 2
        steps_at_cancel = model_stats(stub).decode_steps
        cancelled.cancel()
        deadline = time.monotonic() + 30
        while (stats := model_stats(stub)).active_requests > 1:
            assert time.monotonic() < deadline, stats
            time.sleep(0.005)
        background.cancel()
        _wait_until_idle(stub)
    # The step running when the cancel arrives finishes; the next one no longer holds the request. One
    # more step of slack covers the GetModelInfo round trip before the cancel was sent.
    assert stats.decode_steps - steps_at_cancel <= 3, (steps_at_cancel, stats)


def test_many_cancellations_leave_nothing_behind(text_service: ServiceProcess) -> None:
    process = psutil.Process(text_service.process.pid)
    with text_stub(text_service.target) as stub:
        for _ in range(5):
            _cancel_after_first_token(stub, 64)
        idle_before = _wait_until_idle(stub)
        rss_before = process.memory_info().rss
        for _ in range(CANCELLATIONS):
            _cancel_after_first_token(stub, 64)
        idle_after = _wait_until_idle(stub)
        rss_after = process.memory_info().rss
        still_serving = stub.Generate(
            pb.GenerateRequest(params=pb.TextParams(prompt="Hi", sampling=pb.SamplingParams(max_new_tokens=2)))
        )
    assert idle_after.finished_requests - idle_before.finished_requests >= CANCELLATIONS
    assert rss_after - rss_before < RSS_NOISE_BYTES, (rss_before, rss_after)
    assert still_serving.usage.completion_tokens > 0


def test_a_passed_deadline_ends_the_call_and_frees_the_request(text_service: ServiceProcess) -> None:
    long_request = pb.GenerateRequest(
        params=pb.TextParams(messages=LONG_ESSAY, sampling=pb.SamplingParams(max_new_tokens=2000))
    )
    with text_stub(text_service.target) as stub:
        _wait_until_idle(stub)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Generate(long_request, timeout=1)
        _wait_until_idle(stub, timeout=30)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
