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
    verdicts = {True: "PASS", False: "FAIL", None: "not measured"}
    return _table(
        ["source", "target", "measured", "result"],
        [[check.source, check.target, check.measured, verdicts[check.passed]] for check in checks],
    )


def text_table(suite: TextSuiteResult) -> str:
    rows = []
    for r in sorted(suite.results, key=lambda result: (result.concurrency, result.system)):
        rows.append(
            [
                r.system,
                str(r.concurrency),
                f"{r.aggregate_tokens_per_second:.1f}",
                "—" if r.request_tokens_per_second_p50 is None else f"{r.request_tokens_per_second_p50:.1f}",
                f"{_ms(r.ttft_p50)} / {_ms(r.ttft_p99)}",
                f"{_ms(r.itl_p50)} / {_ms(r.itl_p99)}",
                f"{_ms(r.health_p50)} / {_ms(r.health_p99)}",
                f"{r.errors}/{r.requests}",
            ]
        )
    header = [
        "system",
        "streams",
        "aggregate tok/s",
        "per-stream tok/s p50",
        "TTFT p50 / p99 (ms)",
        "inter-token p50 / p99 (ms)",
        "/health p50 / p99 (ms)",
        "errors",
    ]
    return _table(header, rows)


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
    if suite.service_inference_seconds:
        median = statistics.median(suite.service_inference_seconds)
        lines.append(f"\nPipeline time the service reported for its gRPC calls (median): {median:.2f} s.")
    return "\n".join(lines)
