"""The load generator: N concurrent streams started together, with a health check polled meanwhile.

One call to `drive` is one burst: `concurrency` requests start at once and the burst ends when the last one
does (or the time limit passes; then the unfinished ones count as errors). Every answer is checked for
exactly the asked number of tokens with finish reason `length`. The bursts of one measurement are
summarised together by `summarise`.
"""

import contextlib
import time
from dataclasses import dataclass, field

import numpy as np

from bench.health_probes import HealthCheck, HealthPoller
from bench.machine_watch import Conditions
from bench.stream_record import StreamRecord
from bench.text_clients import TextClient


@dataclass
class LoadRound:
    """What one burst produced, before any statistics."""

    records: list[StreamRecord]
    wall_seconds: float
    health_latencies: list[float] = field(default_factory=list)
    health_failures: int = 0


@dataclass
class LoadResult:
    """One system (in one configuration) at one concurrency in one round: throughput, latencies (seconds),
    health while loaded, CPU time per token of each process, and the machine's conditions."""

    system: str
    config: str
    concurrency: int
    round: int
    requests: int
    errors: int
    error_samples: list[str]
    wall_seconds: float
    received_tokens: int
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
    conditions: Conditions
    started: float
    ended: float
    cpu_ms_per_token: dict[str, float] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        """Every request gave exactly the asked tokens with finish reason `length`."""
        return self.errors == 0


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (linear interpolation), or None when there is nothing to rank."""
    return float(np.percentile(values, q)) if values else None


async def drive(
    client: TextClient,
    prompt: str,
    max_new_tokens: int,
    concurrency: int,
    health_check: HealthCheck | None,
    health_interval: float,
    time_limit: float,
) -> LoadRound:
    """One burst of `concurrency` simultaneous streams, every answer checked."""
    poller = HealthPoller(health_check, health_interval) if health_check else None
    with poller or contextlib.nullcontext():
        started = time.perf_counter()
        records = await client.burst(prompt, max_new_tokens, concurrency, time_limit)
        wall = time.perf_counter() - started
    for record in records:
        record.check(max_new_tokens)
    if poller is None:
        return LoadRound(records, wall)
    return LoadRound(records, wall, poller.latencies, poller.failures)


@dataclass
class Measured:
    """Where a measurement belongs and what surrounded it, known before its statistics."""

    system: str
    config: str
    concurrency: int
    round: int
    conditions: Conditions
    started: float
    ended: float
    cpu_ms_per_token: dict[str, float]


def summarise(measured: Measured, rounds: list[LoadRound]) -> LoadResult:
    """Statistics over the bursts of one measurement: tokens/s over the summed wall time, latency
    percentiles over all streams. Only checked answers count; the others are errors."""
    records = [record for one in rounds for record in one.records]
    succeeded = [record for record in records if record.ok]
    tokens = sum(record.received_tokens for record in succeeded)
    wall = sum(one.wall_seconds for one in rounds)
    first_tokens = [r.time_to_first_token for r in succeeded if r.time_to_first_token is not None]
    gaps = [gap for record in succeeded for gap in record.inter_token_latencies()]
    health = [latency for one in rounds for latency in one.health_latencies]
    return LoadResult(
        system=measured.system,
        config=measured.config,
        concurrency=measured.concurrency,
        round=measured.round,
        requests=len(records),
        errors=len(records) - len(succeeded),
        error_samples=sorted({record.error for record in records if record.error})[:3],
        wall_seconds=wall,
        received_tokens=tokens,
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
        conditions=measured.conditions,
        started=measured.started,
        ended=measured.ended,
        cpu_ms_per_token=measured.cpu_ms_per_token,
    )
