"""The text scenarios, measured fairly: every system alone on the machine, every peer in its best
configuration, several rounds in rotated order, every answer checked, the machine watched.

First each peer (OpenVINO GenAI in-process, `transformers serve`) is screened: one visit per candidate
configuration at the headline load; the fastest valid one is its configuration for the run. Then each round
visits every system once, in an order rotated by one place per round (a, b, c, d; b, c, d, a; ...). A visit
starts the system (only once nothing else of the bench runs), warms it up at each concurrency it will be
measured at, measures one stream, the headline load (with the health probe polled from its own thread)
and, for the gateway, the high load, and stops it again.
"""

import time
from dataclasses import asdict, dataclass, field

import psutil

from bench.load import LoadResult, Measured, drive, summarise
from bench.machine_watch import MachineWatch
from bench.peer_checkpoint import ensure_peer_checkpoint
from bench.peer_configs import DEFAULTS, PeerConfig, candidate_configs, torch_own_threads, usable_cores
from bench.plan import BenchPaths, TextPlan
from bench.progress import Budget, Progress
from bench.round_stats import Spread, spread
from bench.text_systems import (
    GATEWAY,
    GRPC,
    OPENVINO,
    PEER,
    RunningSystem,
    StartSystem,
    hearth_gateway,
    hearth_grpc,
    openvino_in_process,
    transformers_serve_on,
)

HEARTH_DEFAULTS = "Hearth's own defaults"
BENCH_CLIENT = "bench client"
SCREENING = 0


@dataclass
class TextSuiteResult:
    plan: dict
    cores: int
    results: list[LoadResult] = field(default_factory=list)
    winners: dict[str, str] = field(default_factory=dict)
    engines: dict[str, str] = field(default_factory=dict)
    orders: list[list[str]] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    startup_seconds: dict[str, list[float]] = field(default_factory=dict)
    visit_seconds: dict[str, list[float]] = field(default_factory=dict)
    warm_up_failures: list[str] = field(default_factory=list)

    def fits(self, system: str, budget: Budget) -> bool:
        """Whether a visit of `system` can end within `budget`, judged by its latest visit (a first visit only
        needs some time left)."""
        earlier = self.visit_seconds.get(system) or [0.0]
        return budget.left > earlier[-1]

    def rounds_of(self, system: str, concurrency: int) -> list[LoadResult]:
        """The measured rounds (screening excluded) of a system at a concurrency."""
        return [r for r in self.results if r.system == system and r.concurrency == concurrency and r.round != SCREENING]

    def screening(self, system: str) -> list[LoadResult]:
        return [r for r in self.results if r.system == system and r.round == SCREENING]

    def screening_cut_short(self, peer: str) -> bool:
        return any(skipped.startswith(f"screening {peer} [") for skipped in self.skipped)

    def spread(self, system: str, concurrency: int, metric: str) -> Spread:
        return spread(self.rounds_of(system, concurrency), metric)

    @property
    def busy_summary(self) -> str | None:
        """How many measurements found the machine busy, or None when it was quiet for all of them."""
        return f"{len(self.busy)} of {len(self.results)} measurements" if self.busy else None


@dataclass
class _Visit:
    system: str
    start: StartSystem
    config: PeerConfig
    config_label: str
    concurrencies: tuple[int, ...]
    round: int


def _process_groups(processes: dict[str, int]) -> dict[str, list[psutil.Process]]:
    """Each named process, and apart from it the processes it started (the text service's engine worker):
    their CPU is the engine's, the parent's is the serving around it."""
    groups = {}
    for name, pid in processes.items():
        parent = psutil.Process(pid)
        groups[name] = [parent]
        children = parent.children(recursive=True)
        if children:
            groups[f"{name} (its child processes)"] = children
    return groups


def _cpu_seconds(groups: dict[str, list[psutil.Process]]) -> dict[str, float]:
    seconds = {}
    for name, members in groups.items():
        times = [member.cpu_times() for member in members]
        seconds[name] = sum(t.user + t.system for t in times)
    return seconds


def _describe(result: LoadResult) -> str:
    line = f"{result.system} [{result.config}] @{result.concurrency}: {result.aggregate_tokens_per_second:6.1f} tok/s"
    if result.concurrency == 1 and result.request_tokens_per_second_p50 is not None:
        line += f" (per stream {result.request_tokens_per_second_p50:.1f})"
    if result.ttft_p50 is not None:
        line += f", TTFT p50 {result.ttft_p50:.2f}s"
    if result.health_p99 is not None:
        line += f", health p99 {result.health_p99 * 1000:.0f}ms"
    conditions = result.conditions
    line += f", load avg {conditions.load_average_1m:.2f} (others {conditions.outside_load_average_1m:.2f})"
    if result.errors:
        line += f", INVALID: {result.errors}/{result.requests} failed the check ({result.error_samples[0]})"
    return line


class _Runner:
    """Visits systems one at a time and keeps what they measured."""

    def __init__(self, plan: TextPlan, paths: BenchPaths, watch: MachineWatch, progress: Progress) -> None:
        self.plan = plan
        self.paths = paths
        self.watch = watch
        self.progress = progress

    async def visit(self, visit: _Visit, suite: TextSuiteResult) -> list[LoadResult]:
        left_over = self.watch.bench_processes()
        if left_over:
            raise RuntimeError(f"{visit.system} would not run alone; still running: {', '.join(left_over)}")
        started = time.perf_counter()
        async with visit.start(self.paths, visit.config) as running:
            suite.startup_seconds.setdefault(visit.system, []).append(time.perf_counter() - started)
            suite.engines[visit.system] = running.engine
            await self._warm_up(visit, running, suite)
            results = [await self._measure(visit, running, concurrency) for concurrency in visit.concurrencies]
        suite.visit_seconds.setdefault(visit.system, []).append(time.perf_counter() - started)
        return results

    async def _warm_up(self, visit: _Visit, running: RunningSystem, suite: TextSuiteResult) -> None:
        """One unmeasured burst at every concurrency the visit measures: the first burst of a size can be much
        slower (lazy initialisation, kernels for new shapes), and that is not the speed a running service
        gives. Every system gets the same bursts, whatever warm-up it does by itself. A failed answer here is
        reported, and the measurements go on: their own checks then mark the rounds invalid."""
        for streams in dict.fromkeys((1, *visit.concurrencies)):
            warm = await drive(running.client, self.plan.prompt, self.plan.max_new_tokens, streams, None, 1.0, 600)
            failures = [r.error for r in warm.records if not r.ok]
            if failures:
                failure = f"{visit.system} [{visit.config_label}] @{streams}: {failures[0]}"
                suite.warm_up_failures.append(failure)
                self.progress.say(f"text: failed while warming up: {failure}")

    async def _measure(self, visit: _Visit, running: RunningSystem, concurrency: int) -> LoadResult:
        plan = self.plan
        repeats = plan.single_stream_repeats if concurrency == 1 else 1
        health = running.health_check if concurrency == plan.streams else None
        groups = {**_process_groups(running.processes), BENCH_CLIENT: [psutil.Process()]}
        conditions = self.watch.begin()
        cpu_before = _cpu_seconds(groups)
        started = time.perf_counter()
        bursts = [
            await drive(
                running.client,
                plan.prompt,
                plan.max_new_tokens,
                concurrency,
                health,
                plan.health_interval_seconds,
                plan.round_time_limit_seconds,
            )
            for _ in range(repeats)
        ]
        ended = time.perf_counter()
        cpu_after = _cpu_seconds(groups)
        tokens = sum(record.received_tokens for burst in bursts for record in burst.records)
        cpu_ms = {name: (cpu_after[name] - cpu_before[name]) * 1000 / max(tokens, 1) for name in groups}
        measured = Measured(
            visit.system, visit.config_label, concurrency, visit.round, conditions, started, ended, cpu_ms
        )
        result = summarise(measured, bursts)
        self.progress.say(("screen " if visit.round == SCREENING else f"round {visit.round}: ") + _describe(result))
        return result


def _rotated(order: list[str], round_index: int) -> list[str]:
    shift = round_index % len(order)
    return order[shift:] + order[:shift]


def _winner(results: list[LoadResult]) -> str:
    """The configuration with the highest valid aggregate; the defaults when none was valid."""
    valid = [r for r in results if r.valid]
    return max(valid, key=lambda r: r.aggregate_tokens_per_second).config if valid else DEFAULTS.label


async def _screen(
    runner: _Runner,
    peers: dict[str, StartSystem],
    screened: dict[str, list[PeerConfig]],
    budget: Budget,
    suite: TextSuiteResult,
) -> None:
    """One visit per peer configuration at the headline load, the peers taking turns (defaults first), so a
    screening cut short by its budget leaves both peers with the same choices; then each peer's winner."""
    progress = runner.progress
    for index in range(max(len(configs) for configs in screened.values())):
        for name, start in peers.items():
            if len(screened[name]) == 1 or index >= len(screened[name]):
                continue
            config = screened[name][index]
            if config != DEFAULTS and not suite.fits(name, budget):
                suite.skipped.append(f"screening {name} [{config.label}]")
                progress.say(f"text: skipping {name} [{config.label}]: over the screening's share of the budget")
                continue
            visit = _Visit(name, start, config, config.label, (runner.plan.streams,), SCREENING)
            suite.results += await runner.visit(visit, suite)
    for name in peers:
        suite.winners[name] = _winner(suite.screening(name))
        progress.say(f"text: {name} runs in its best configuration: {suite.winners[name]}")


async def run_text_suite(plan: TextPlan, paths: BenchPaths, budget: Budget, progress: Progress) -> TextSuiteResult:
    """The screening, then the rounds; a visit that would not end within the budget is skipped (and listed)."""
    paths.logs_dir.mkdir(parents=True, exist_ok=True)
    cores = usable_cores()
    suite = TextSuiteResult(plan=asdict(plan), cores=cores)
    progress.say("text: preparing the safetensors copy of the GGUF for transformers serve")
    peers: dict[str, StartSystem] = {
        OPENVINO: openvino_in_process,
        PEER: transformers_serve_on(ensure_peer_checkpoint(paths.text_model, paths.cache_dir)),
    }
    starts: dict[str, StartSystem] = {GATEWAY: hearth_gateway, GRPC: hearth_grpc, **peers}
    # OpenVINO in-process runs the high load too: the engine's own scaling is the ceiling of the gateway's.
    concurrencies = {name: (1, plan.streams, plan.high_streams) for name in (GATEWAY, OPENVINO)}
    screened = {
        OPENVINO: candidate_configs(cores) if plan.screen_peer_configs else [DEFAULTS],
        PEER: candidate_configs(cores, torch_own_threads()) if plan.screen_peer_configs else [DEFAULTS],
    }
    by_label = {config.label: config for configs in screened.values() for config in configs}
    with MachineWatch(plan.busy_process_percent) as watch:
        runner = _Runner(plan, paths, watch, progress)
        screening = Budget(progress, progress.elapsed + budget.left * plan.screening_share)
        await _screen(runner, peers, screened, screening, suite)
        for index in range(plan.rounds):
            order = _rotated(list(starts), index)
            suite.orders.append(order)
            for name in order:
                if not suite.fits(name, budget):
                    suite.skipped.append(f"round {index + 1}: {name}")
                    progress.say(f"text: skipping {name} in round {index + 1}: over the run's time budget")
                    continue
                config = by_label[suite.winners[name]] if name in peers else DEFAULTS
                label = suite.winners[name] if name in peers else HEARTH_DEFAULTS
                visit = _Visit(name, starts[name], config, label, concurrencies.get(name, (1, plan.streams)), index + 1)
                suite.results += await runner.visit(visit, suite)
        for result in suite.results:
            result.conditions.busy_processes = watch.busy_between(result.started, result.ended)
            reason = result.conditions.busy_reason(cores, plan.busy_load_share)
            if reason:
                when = f"round {result.round}" if result.round else f"screening [{result.config}]"
                suite.busy.append(f"{result.system} @{result.concurrency} {when}: {reason}")
    return suite
