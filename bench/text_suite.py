"""The text scenarios: (a) in-process `generate`, (b) Hearth over gRPC, (c) Hearth's gateway over SSE,
(d) the naive baseline and (e) `transformers serve --continuous-batching`, same model, prompt and tokens.

All servers start together as child processes and then wait idle while one system at a time is
measured. Single streams are measured in interleaved rounds (a, b, c, d, e, a, b, ...), so a slow phase of
the shared machine hits every system alike; each concurrency level then runs every served system in turn.
"""

import asyncio
import importlib.util
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field

from bench import child_processes
from bench.health_probes import GrpcHealthCheck, HealthCheck, HttpHealthCheck
from bench.load import LoadResult, LoadRound, drive, summarise
from bench.peer_checkpoint import ensure_peer_checkpoint
from bench.plan import BenchPaths, TextPlan
from bench.progress import Budget, Progress
from bench.text_clients import (
    GatewayTextClient,
    GrpcTextClient,
    InProcessClient,
    NaiveBaselineClient,
    TextClient,
    TransformersServeClient,
)
from bench.text_model import load_text_model

IN_PROCESS = "in-process generate"
STATIC_BATCH = "in-process static batch"
GRPC = "hearth gRPC"
GATEWAY = "hearth gateway SSE"
NAIVE = "naive baseline"
PEER = "transformers serve"


@dataclass
class TextSystem:
    client: TextClient
    health_check: HealthCheck | None = None


@dataclass
class TextSuiteResult:
    plan: dict
    results: list[LoadResult]
    skipped: dict[str, str] = field(default_factory=dict)

    def find(self, system: str, concurrency: int) -> LoadResult | None:
        return next((r for r in self.results if r.system == system and r.concurrency == concurrency), None)


def hearth_services_present() -> bool:
    """Whether the text service and gateway exist in this checkout (they are optional for a partial run)."""
    return all(importlib.util.find_spec(f"{name}.__main__") for name in ("text_service", "http_gateway"))


async def _start_systems(paths: BenchPaths, progress: Progress, exits: AsyncExitStack) -> dict[str, TextSystem]:
    """Starts every server at once (their loads overlap), loads the in-process model, then waits for all."""
    paths.logs_dir.mkdir(parents=True, exist_ok=True)
    progress.say("text: preparing the safetensors copy of the GGUF for transformers serve")
    checkpoint = ensure_peer_checkpoint(paths.text_model, paths.cache_dir)
    servers = {}
    if hearth_services_present():
        text = child_processes.text_service(paths.text_model, paths.logs_dir)
        exits.callback(text.stop)
        gateway = child_processes.gateway(text.target, f"127.0.0.1:{child_processes.free_port()}", paths.logs_dir)
        exits.callback(gateway.stop)
        servers["hearth"] = (text, gateway)
    naive = child_processes.naive_baseline(paths.text_model, paths.logs_dir)
    exits.callback(naive.stop)
    peer = child_processes.transformers_serve(checkpoint, paths.logs_dir)
    exits.callback(peer.stop)
    progress.say(f"text: started the servers (logs in {paths.logs_dir}); loading the in-process model")
    systems = {IN_PROCESS: TextSystem(InProcessClient(*load_text_model(paths.text_model)))}
    if "hearth" in servers:
        text, gateway = servers["hearth"]
        text.wait_until_serving(child_processes.STARTUP_TIMEOUT_SECONDS)
        systems[GRPC] = TextSystem(GrpcTextClient(text.target), GrpcHealthCheck(text.target))
        child_processes.wait_for_gateway_backend(gateway, "text_model_loaded")
        systems[GATEWAY] = TextSystem(GatewayTextClient(gateway.url), HttpHealthCheck(gateway.url + "/health"))
    child_processes.wait_for_naive_baseline(naive)
    systems[NAIVE] = TextSystem(NaiveBaselineClient(naive.url), HttpHealthCheck(naive.url + "/health"))
    child_processes.wait_for_transformers_serve(peer)
    systems[PEER] = TextSystem(TransformersServeClient(peer.url), HttpHealthCheck(peer.url + "/health"))
    for system in systems.values():
        exits.push_async_callback(system.client.aclose)
        if system.health_check is not None:
            exits.callback(system.health_check.close)
    progress.say(f"text: all ready: {', '.join(systems)}")
    return systems


async def _warm_up(systems: dict[str, TextSystem], plan: TextPlan, progress: Progress) -> None:
    """First requests are several times slower (lazy initialisation, new shapes): keep them out of the numbers."""
    for name, system in systems.items():
        burst = 1 if name in (IN_PROCESS, NAIVE) else plan.warmup_burst
        for concurrency in (1, burst):
            warm = await drive(system.client, plan.prompt, plan.max_new_tokens, concurrency, None, 600)
            failures = [r.error for r in warm.records if not r.ok]
            if failures:
                raise RuntimeError(f"{name} failed while warming up: {failures[0]}")
        progress.say(f"text: warmed up {name}")


def _describe(result: LoadResult) -> str:
    line = f"{result.system} @{result.concurrency}: {result.aggregate_tokens_per_second:6.1f} tok/s"
    if result.ttft_p50 is not None:
        line += f", TTFT p50 {result.ttft_p50:.2f}s"
    if result.health_p99 is not None:
        line += f", health p99 {result.health_p99 * 1000:.0f}ms"
    if result.errors:
        line += f", {result.errors} errors ({result.error_samples[0]})"
    return line


async def _single_streams(
    systems: dict[str, TextSystem], plan: TextPlan, budget: Budget, progress: Progress
) -> list[LoadResult]:
    rounds: dict[str, list[LoadRound]] = {name: [] for name in systems}
    for index in range(plan.single_stream_rounds):
        for name, system in systems.items():
            rounds[name].append(
                await drive(
                    system.client,
                    plan.prompt,
                    plan.max_new_tokens,
                    1,
                    system.health_check,
                    budget.round_limit(plan.round_time_limit_seconds),
                )
            )
        progress.say(f"text: single-stream round {index + 1}/{plan.single_stream_rounds} done")
    results = [summarise(name, 1, runs) for name, runs in rounds.items()]
    for result in results:
        progress.say("text: " + _describe(result))
    return results


async def _concurrent(
    systems: dict[str, TextSystem],
    plan: TextPlan,
    concurrency: int,
    budget: Budget,
    skipped: dict[str, str],
    progress: Progress,
) -> list[LoadResult]:
    results = []
    for name, system in systems.items():
        if budget.left <= 0:
            skipped[f"{name} @{concurrency}"] = "over the run's time budget"
            progress.say(f"text: skipping {name} @{concurrency}: over the run's time budget")
            continue
        if name == IN_PROCESS:
            assert isinstance(system.client, InProcessClient)
            runs = []
            for _ in range(plan.rounds_at(concurrency)):
                records = await asyncio.to_thread(system.client.generate, plan.prompt, plan.max_new_tokens, concurrency)
                runs.append(LoadRound(records, records[0].duration))
            result = summarise(STATIC_BATCH, concurrency, runs)
        else:
            runs = [
                await drive(
                    system.client,
                    plan.prompt,
                    plan.max_new_tokens,
                    concurrency,
                    system.health_check,
                    budget.round_limit(plan.round_time_limit_seconds),
                )
                for _ in range(plan.rounds_at(concurrency))
            ]
            result = summarise(name, concurrency, runs)
        progress.say("text: " + _describe(result))
        results.append(result)
    return results


async def run_text_suite(plan: TextPlan, paths: BenchPaths, budget: Budget, progress: Progress) -> TextSuiteResult:
    """Every text scenario, in one process run, within the budget."""
    skipped = {}
    if not hearth_services_present():
        skipped[GRPC] = skipped[GATEWAY] = "text_service or http_gateway is not in this checkout"
        progress.say(f"text: skipping {GRPC} and {GATEWAY}: {skipped[GRPC]}")
    async with AsyncExitStack() as exits:
        systems = await _start_systems(paths, progress, exits)
        await _warm_up(systems, plan, progress)
        results = await _single_streams(systems, plan, budget, progress)
        for concurrency in plan.concurrencies:
            if concurrency > 1:
                results += await _concurrent(systems, plan, concurrency, budget, skipped, progress)
    return TextSuiteResult(plan=asdict(plan), results=results, skipped=skipped)
