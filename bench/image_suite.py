"""The image scenarios: time per image in-process vs over gRPC vs through the gateway (interleaved rounds,
same arguments and seed), `batch_requests` compatible requests one after another vs all at once, how
late step-progress events reach the client, and what a live preview on every step costs a stream.
"""

import asyncio
import importlib.util
import statistics
import time
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field

from bench import child_processes
from bench.image_clients import GatewayImageClient, GrpcImageClient, InProcessPipeline
from bench.load import percentile
from bench.plan import BenchPaths, ImagePlan
from bench.progress import Progress

IN_PROCESS = "in-process pipeline"
GRPC = "hearth gRPC"
GATEWAY = "hearth gateway"
PREVIEW_MODES = {"no previews": 0, "a preview every step": 1}


@dataclass
class ImageSuiteResult:
    plan: dict
    seconds_per_image: dict[str, list[float]] = field(default_factory=dict)
    service_inference_seconds: list[float] = field(default_factory=list)
    sequential_seconds: float | None = None
    concurrent_seconds: float | None = None
    concurrent_batch_sizes: list[int] = field(default_factory=list)
    progress_delay_seconds: dict[str, dict[str, float | None]] = field(default_factory=dict)
    preview_stream_seconds: dict[str, list[float]] = field(default_factory=dict)
    preview_bytes_per_stream: int = 0
    skipped: dict[str, str] = field(default_factory=dict)

    def median_seconds(self, system: str) -> float | None:
        samples = self.seconds_per_image.get(system)
        return statistics.median(samples) if samples else None


def image_services_present() -> bool:
    return all(importlib.util.find_spec(f"{name}.__main__") for name in ("image_service", "http_gateway"))


def _delay_summary(delays: list[float]) -> dict[str, float | None]:
    return {
        "events": len(delays),
        "p50": percentile(delays, 50),
        "p99": percentile(delays, 99),
        "max": max(delays) if delays else None,
    }


async def _batching(client: GrpcImageClient, plan: ImagePlan, result: ImageSuiteResult, progress: Progress) -> None:
    seeds = [plan.seed + index for index in range(plan.batch_requests)]
    started = time.perf_counter()
    for seed in seeds:
        await client.generate(plan, seed)
    result.sequential_seconds = time.perf_counter() - started
    progress.say(f"image: {plan.batch_requests} requests one after another: {result.sequential_seconds:.2f}s")
    started = time.perf_counter()
    replies = await asyncio.gather(*(client.generate(plan, seed) for seed in seeds))
    result.concurrent_seconds = time.perf_counter() - started
    result.concurrent_batch_sizes = [timings.batch_size for _, timings in replies]
    progress.say(
        f"image: {plan.batch_requests} requests at once: {result.concurrent_seconds:.2f}s "
        f"(batch sizes {result.concurrent_batch_sizes})"
    )


async def _previews(client: GrpcImageClient, plan: ImagePlan, result: ImageSuiteResult, progress: Progress) -> None:
    """The same stream without and with a preview on every step, in alternating order each round."""
    for index in range(plan.rounds):
        modes = list(PREVIEW_MODES.items())
        for name, every in modes[::-1] if index % 2 else modes:
            seconds, preview_bytes = await client.stream_seconds(plan, every)
            result.preview_stream_seconds.setdefault(name, []).append(seconds)
            result.preview_bytes_per_stream = max(result.preview_bytes_per_stream, preview_bytes)
        progress.say(
            f"image: previews round {index + 1}/{plan.rounds}: "
            + ", ".join(f"{name} {samples[-1]:.2f}s" for name, samples in result.preview_stream_seconds.items())
        )


async def run_image_suite(plan: ImagePlan, paths: BenchPaths, progress: Progress) -> ImageSuiteResult:
    """Every image scenario, in one process run."""
    result = ImageSuiteResult(plan=asdict(plan))
    paths.logs_dir.mkdir(parents=True, exist_ok=True)
    async with AsyncExitStack() as exits:
        grpc_client = gateway_client = None
        if image_services_present():
            image = child_processes.image_service(paths.image_model, paths.logs_dir)
            exits.callback(image.stop)
            gateway = child_processes.gateway(f"127.0.0.1:{child_processes.free_port()}", image.target, paths.logs_dir)
            exits.callback(gateway.stop)
        else:
            result.skipped[GRPC] = result.skipped[GATEWAY] = "image_service or http_gateway is not in this checkout"
            progress.say(f"image: skipping {GRPC} and {GATEWAY}: {result.skipped[GRPC]}")
        progress.say("image: loading the in-process pipeline")
        pipeline = InProcessPipeline(str(paths.image_model))
        if not result.skipped:
            image.wait_until_serving(child_processes.STARTUP_TIMEOUT_SECONDS)
            child_processes.wait_for_gateway_backend(gateway, "image_model_loaded")
            grpc_client = GrpcImageClient(image.target)
            exits.push_async_callback(grpc_client.aclose)
            gateway_client = GatewayImageClient(gateway.url)
            exits.push_async_callback(gateway_client.aclose)
        progress.say("image: warming up")
        await asyncio.to_thread(pipeline.generate, plan)
        if grpc_client and gateway_client:
            await grpc_client.generate(plan, plan.seed)
            await gateway_client.generate(plan)
        for index in range(plan.rounds):
            result.seconds_per_image.setdefault(IN_PROCESS, []).append(await asyncio.to_thread(pipeline.generate, plan))
            if grpc_client and gateway_client:
                seconds, timings = await grpc_client.generate(plan, plan.seed)
                result.seconds_per_image.setdefault(GRPC, []).append(seconds)
                result.service_inference_seconds.append(timings.inference_seconds)
                result.seconds_per_image.setdefault(GATEWAY, []).append(await gateway_client.generate(plan))
            progress.say(
                f"image: round {index + 1}/{plan.rounds}: "
                + ", ".join(f"{name} {samples[-1]:.2f}s" for name, samples in result.seconds_per_image.items())
            )
        if grpc_client and gateway_client:
            await _batching(grpc_client, plan, result, progress)
            await _previews(grpc_client, plan, result, progress)
            for name, client in ((GRPC, grpc_client), (GATEWAY, gateway_client)):
                result.progress_delay_seconds[name] = _delay_summary(await client.progress_delays(plan))
                progress.say(f"image: step-progress delay via {name}: {result.progress_delay_seconds[name]}")
    return result
