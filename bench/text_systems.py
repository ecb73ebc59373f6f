"""The four text systems, each started in one configuration and stopped again: the bench measures one at a
time, so every system owns the machine while it runs.

(a) Hearth through the gateway (text service + gateway, SSE), (b) Hearth's text service over gRPC,
(c) OpenVINO GenAI's `ContinuousBatchingPipeline` in-process on the same GGUF file, (d) `transformers serve
--continuous-batching` on a safetensors copy of the same weights. Hearth runs in its own defaults (it
chooses its threads itself); the peers run in the configuration given.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import child_processes
from bench.health_probes import GrpcHealthCheck, HealthCheck, HttpHealthCheck
from bench.peer_configs import DEFAULTS, PeerConfig, child_environment
from bench.plan import BenchPaths
from bench.text_clients import (
    GatewayTextClient,
    GrpcTextClient,
    OpenVinoClient,
    TextClient,
    TransformersServeClient,
)

GATEWAY = "hearth gateway SSE"
GRPC = "hearth gRPC"
OPENVINO = "OpenVINO GenAI in-process"
PEER = "transformers serve"


@dataclass
class RunningSystem:
    """A started system: how to call it, which processes do its work (name -> pid) and its engine."""

    client: TextClient
    processes: dict[str, int]
    engine: str
    health_check: HealthCheck | None = None


StartSystem = Callable[[BenchPaths, PeerConfig], AbstractAsyncContextManager[RunningSystem]]


async def _hearth_engine(target: str) -> str:
    client = GrpcTextClient(target)
    try:
        return await client.engine_name()
    finally:
        await client.aclose()


async def _start_text_service(paths: BenchPaths, exits: AsyncExitStack) -> child_processes.ServiceProcess:
    """The text service in Hearth's defaults, stopped when `exits` closes."""
    text = child_processes.text_service(paths.text_model, paths.logs_dir, env=child_environment())
    exits.callback(text.stop)
    await asyncio.to_thread(text.wait_until_serving, child_processes.STARTUP_TIMEOUT_SECONDS)
    return text


@asynccontextmanager
async def hearth_gateway(paths: BenchPaths, config: PeerConfig = DEFAULTS) -> AsyncIterator[RunningSystem]:
    """(a) The text service and the gateway in front of it (no image service: nothing else loaded)."""
    async with AsyncExitStack() as exits:
        text = await _start_text_service(paths, exits)
        unused_image_target = f"127.0.0.1:{child_processes.free_port()}"
        gateway = child_processes.gateway(text.target, unused_image_target, paths.logs_dir, env=child_environment())
        exits.callback(gateway.stop)
        await asyncio.to_thread(child_processes.wait_for_gateway_backend, gateway, "text_model_loaded")
        client = GatewayTextClient(gateway.url)
        exits.push_async_callback(client.aclose)
        health = HttpHealthCheck(gateway.url + "/health")
        exits.callback(health.close)
        processes = {"text_service": _pid(text), "http_gateway": _pid(gateway)}
        yield RunningSystem(client, processes, await _hearth_engine(text.target), health)


@asynccontextmanager
async def hearth_grpc(paths: BenchPaths, config: PeerConfig = DEFAULTS) -> AsyncIterator[RunningSystem]:
    """(b) The text service alone, called over gRPC."""
    async with AsyncExitStack() as exits:
        text = await _start_text_service(paths, exits)
        client = GrpcTextClient(text.target)
        exits.push_async_callback(client.aclose)
        health = GrpcHealthCheck(text.target)
        exits.callback(health.close)
        yield RunningSystem(client, {"text_service": _pid(text)}, await client.engine_name(), health)


@asynccontextmanager
async def openvino_in_process(paths: BenchPaths, config: PeerConfig) -> AsyncIterator[RunningSystem]:
    """(c) The OpenVINO pipeline, in its own child process, with the configuration's threads and wait policy."""
    env = child_environment(omp_wait_policy=config.omp_wait_policy)
    log_path = paths.logs_dir / "openvino_child.log"
    child = child_processes.OpenVinoChild(paths.text_model, env, log_path, config.threads).start()
    try:
        await asyncio.to_thread(child.wait_until_ready)
        yield RunningSystem(OpenVinoClient(child), {"openvino_child": child.pid}, child.engine)
    finally:
        await asyncio.to_thread(child.stop)


def transformers_serve_on(checkpoint: Path) -> StartSystem:
    """(d) `transformers serve --continuous-batching` on `checkpoint`, torch threads and wait policy set."""

    @asynccontextmanager
    async def start(paths: BenchPaths, config: PeerConfig) -> AsyncIterator[RunningSystem]:
        env = child_environment(torch_threads=config.threads, omp_wait_policy=config.omp_wait_policy)
        async with AsyncExitStack() as exits:
            peer = child_processes.transformers_serve(checkpoint, paths.logs_dir, env)
            exits.callback(peer.stop)
            await asyncio.to_thread(child_processes.wait_for_transformers_serve, peer)
            client = TransformersServeClient(peer.url)
            exits.push_async_callback(client.aclose)
            health = HttpHealthCheck(peer.url + "/health")
            exits.callback(health.close)
            yield RunningSystem(client, {"transformers_serve": _pid(peer)}, "transformers continuous batching", health)

    return start


def _pid(process: child_processes.ServiceProcess) -> int:
    assert process.process is not None
    return process.process.pid
