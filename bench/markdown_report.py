"""The run's numbers as Markdown tables (bench/results/<suite>.md), ready to paste into docs/performance.md."""

import statistics

from bench.image_suite import ImageSuiteResult
from bench.targets import TargetCheck
from bench.text_suite import TextSuiteResult


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.0f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def targets_table(checks: list[TargetCheck]) -> str:
    return _table(
        ["source", "target", "measured", "result"],
        [[check.source, check.target, check.measured, check.verdict] for check in checks],
    )


def _tps(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _conditions(suite: TextSuiteResult) -> str:
    plan = suite.plan
    lines = [
        f"{suite.cores} usable cores; prompt {plan['prompt']!r}, greedy, {plan['max_new_tokens']} new tokens, "
        f"{plan['rounds']} round(s), orders: " + "; ".join(", ".join(order) for order in suite.orders) + ".",
        "Engines: " + ", ".join(f"{name}: {engine}" for name, engine in suite.engines.items()) + ".",
        "Peer configurations chosen: " + ", ".join(f"{name}: {label}" for name, label in suite.winners.items()) + ".",
        "Start-up until ready, median over visits: "
        + ", ".join(f"{name} {statistics.median(times):.0f} s" for name, times in suite.startup_seconds.items())
        + ".",
        "Machine: " + (f"BUSY in {suite.busy_summary}" if suite.busy else "quiet for every measurement") + ".",
    ]
    lines += [f"- busy: {reason}" for reason in suite.busy]
    lines += [f"- failed while warming up: {failure}" for failure in suite.warm_up_failures]
    if suite.skipped:
        lines.append("Skipped (time budget): " + ", ".join(suite.skipped) + ".")
    return "\n".join(lines)


def _summary(suite: TextSuiteResult) -> str:
    rows = []
    systems = dict.fromkeys(r.system for r in suite.results if r.round)
    for system in systems:
        for concurrency in sorted({r.concurrency for r in suite.results if r.system == system and r.round}):
            rounds = suite.rounds_of(system, concurrency)
            aggregate = suite.spread(system, concurrency, "aggregate_tokens_per_second")
            rows.append(
                [
                    system,
                    rounds[0].config,
                    str(concurrency),
                    aggregate.describe(),
                    suite.spread(system, concurrency, "request_tokens_per_second_p50").describe(),
                    suite.spread(system, concurrency, "ttft_p50").describe(1000, 0),
                    suite.spread(system, concurrency, "health_p99").describe(1000, 0),
                    f"{aggregate.valid_rounds}/{len(rounds)}",
                ]
            )
    header = [
        "system",
        "configuration",
        "streams",
        "aggregate tok/s",
        "per-stream tok/s p50",
        "TTFT p50 (ms)",
        "/health p99 (ms)",
        "valid rounds",
    ]
    return "Medians over the rounds, (min-max) in brackets:\n\n" + _table(header, rows)


def _screening(suite: TextSuiteResult) -> str:
    rows = [
        [
            r.system,
            r.config + (" **(chosen)**" if suite.winners.get(r.system) == r.config else ""),
            f"{r.aggregate_tokens_per_second:.1f}",
            _ms(r.ttft_p50),
            f"{r.conditions.load_average_1m:.2f}",
            "valid" if r.valid else f"INVALID: {r.error_samples[0]}",
        ]
        for system in suite.winners
        for r in suite.screening(system)
    ]
    if not rows:
        return "No screening in this run: the peers ran in their defaults."
    header = ["peer", "configuration", f"{suite.plan['streams']} streams tok/s", "TTFT p50 (ms)", "load avg", "check"]
    return "Screening, one visit per configuration:\n\n" + _table(header, rows)


def _rounds(suite: TextSuiteResult) -> str:
    rows = [
        [
            str(r.round),
            r.system,
            str(r.concurrency),
            f"{r.aggregate_tokens_per_second:.1f}",
            _tps(r.request_tokens_per_second_p50),
            f"{_ms(r.ttft_p50)} / {_ms(r.ttft_p99)}",
            f"{_ms(r.itl_p50)} / {_ms(r.itl_p99)}",
            _ms(r.health_p99),
            f"{r.conditions.load_average_1m:.2f} ({r.conditions.outside_load_average_1m:.2f})",
            str(len(r.conditions.bench_processes)),
            f"{r.errors}/{r.requests}" + (f" {r.error_samples[0]}" if r.errors else ""),
        ]
        for r in suite.results
        if r.round
    ]
    header = [
        "round",
        "system",
        "streams",
        "aggregate tok/s",
        "per-stream tok/s p50",
        "TTFT p50 / p99 (ms)",
        "inter-token p50 / p99 (ms)",
        "/health p99 (ms)",
        "load avg before (others)",
        "bench child processes",
        "failed checks",
    ]
    intro = (
        "Every measurement, in the order run. The bench's child processes while it ran are the system's own "
        "(named in the JSON: `conditions.bench_processes`); a visit starts only once none is left."
    )
    return intro + "\n\n" + _table(header, rows)


def _cpu_per_token(suite: TextSuiteResult) -> str:
    streams = suite.plan["streams"]
    rows = []
    for system in dict.fromkeys(r.system for r in suite.results if r.round):
        rounds = [r for r in suite.rounds_of(system, streams) if r.valid]
        for process in rounds[0].cpu_ms_per_token if rounds else []:
            values = [r.cpu_ms_per_token[process] for r in rounds]
            rows.append([system, process, f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"])
    header = ["system", "process", "CPU ms per token"]
    return f"CPU time per generated token at {streams} streams (user + system, median (min-max)):\n\n" + _table(
        header, rows
    )


def text_table(suite: TextSuiteResult) -> str:
    sections = [_conditions(suite), _summary(suite), _screening(suite), _cpu_per_token(suite), _rounds(suite)]
    return "\n\n".join(sections)


def image_table(suite: ImageSuiteResult) -> str:
    rows = [
        [name, f"{suite.median_seconds(name):.2f}", ", ".join(f"{s:.2f}" for s in samples)]
        for name, samples in suite.seconds_per_image.items()
        if samples
    ]
    lines = [_table(["path", "median s per image", "rounds (s)"], rows)]
    if suite.sequential_seconds and suite.concurrent_seconds:
        requests = suite.plan["batch_requests"]
        lines.append(
            f"\n{requests} compatible requests over gRPC: {suite.sequential_seconds:.2f} s one after another, "
            f"{suite.concurrent_seconds:.2f} s at once (batch sizes {suite.concurrent_batch_sizes})."
        )
    for name, delay in suite.progress_delay_seconds.items():
        lines.append(
            f"\nStep-progress delay via {name} ({delay['events']} events): "
            f"p50 {_ms(delay['p50'])} ms, p99 {_ms(delay['p99'])} ms."
        )
    medians = {name: statistics.median(samples) for name, samples in suite.preview_stream_seconds.items()}
    if len(medians) == 2:
        (plain_name, plain), (preview_name, previewed) = medians.items()
        lines.append(
            f"\nOne stream over gRPC, {plain_name} vs {preview_name} (median of {suite.plan['rounds']}, alternating): "
            f"{plain:.2f} s vs {previewed:.2f} s ({(previewed / plain - 1) * 100:+.1f}%), "
            f"{suite.preview_bytes_per_stream / 1024:.1f} KiB of previews per stream."
        )
    if suite.service_inference_seconds:
        median = statistics.median(suite.service_inference_seconds)
        lines.append(f"\nPipeline time the service reported for its gRPC calls (median): {median:.2f} s.")
    return "\n".join(lines)
