"""The load generator: N concurrent streams started together, with a health check polled meanwhile.

One call to `drive` is one round: `concurrency` requests start at once and the round ends when the last one
does (or the time limit passes; then the unfinished ones count as errors). Rounds of one scenario are
summarised together by `summarise`.
"""

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import numpy as np

from bench.health_probes import HealthCheck, HealthPoller
from bench.stream_record import StreamRecord
from bench.text_clients import TextClient


@dataclass
class LoadRound:
    """What one round produced, before any statistics."""

    records: list[StreamRecord]
    wall_seconds: float
    health_latencies: list[float] = field(default_factory=list)
    health_failures: int = 0


@dataclass
class LoadResult:
    """One system at one concurrency: throughput, latencies (seconds) and health while loaded."""

    system: str
    concurrency: int
    requests: int
    errors: int
    error_samples: list[str]
    wall_seconds: float
    completion_tokens: int
    aggregate_tokens_per_second: float
    request_tokens_per_second_p50: float | None
    ttft_p50: float | None
    ttft_p99: float | None
    itl_p50: float | None
    itl_p99: float | None
    health_p50: float | None
    health_p99: float | None
    health_max: float | None
    health_samples: int
    health_failures: int


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (linear interpolation), or None when there is nothing to rank."""
    return float(np.percentile(values, q)) if values else None


async def drive(
    client: TextClient,
    prompt: str,
    max_new_tokens: int,
    concurrency: int,
    health_check: HealthCheck | None,
    time_limit: float,
) -> LoadRound:
    """One round of `concurrency` simultaneous streams."""
    poller = HealthPoller(health_check) if health_check else None
    with poller or contextlib.nullcontext():
        started = time.perf_counter()
        tasks = [asyncio.create_task(client.stream(prompt, max_new_tokens)) for _ in range(concurrency)]
        done, pending = await asyncio.wait(tasks, timeout=time_limit)
        for task in pending:
            task.cancel()
        wall = time.perf_counter() - started
    records = [task.result() for task in done]
    for _ in pending:
        timed_out = StreamRecord(started=started)
        timed_out.fail(f"no answer within the {time_limit:.0f}s limit")
        records.append(timed_out)
    if poller is None:
        return LoadRound(records, wall)
    return LoadRound(records, wall, poller.latencies, poller.failures)


def summarise(system: str, concurrency: int, rounds: list[LoadRound]) -> LoadResult:
    """Statistics over every round: tokens/s over the summed wall time, latency percentiles over all streams."""
    records = [record for one in rounds for record in one.records]
    succeeded = [record for record in records if record.ok]
    tokens = sum(record.completion_tokens for record in succeeded)
    wall = sum(one.wall_seconds for one in rounds)
    first_tokens = [r.time_to_first_token for r in succeeded if r.time_to_first_token is not None]
    gaps = [gap for record in succeeded for gap in record.inter_token_latencies()]
    health = [latency for one in rounds for latency in one.health_latencies]
    return LoadResult(
        system=system,
        concurrency=concurrency,
        requests=len(records),
        errors=len(records) - len(succeeded),
        error_samples=sorted({record.error for record in records if record.error})[:3],
        wall_seconds=wall,
        completion_tokens=tokens,
        aggregate_tokens_per_second=tokens / wall if wall else 0.0,
        request_tokens_per_second_p50=percentile([r.tokens_per_second for r in succeeded], 50),
        ttft_p50=percentile(first_tokens, 50),
        ttft_p99=percentile(first_tokens, 99),
        itl_p50=percentile(gaps, 50),
        itl_p99=percentile(gaps, 99),
        health_p50=percentile(health, 50),
        health_p99=percentile(health, 99),
        health_max=max(health) if health else None,
        health_samples=len(health),
        health_failures=sum(one.health_failures for one in rounds),
    )
