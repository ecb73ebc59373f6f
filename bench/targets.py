"""The targets of the design document (and of issues 5, 6 and 7), checked against one run's numbers.

A target whose inputs were not measured in this run (a suite not run, a system missing) shows as not
measured rather than PASS or FAIL; a measurement that had failed requests FAILs.
"""

from dataclasses import dataclass

from rich.table import Table

from bench import image_suite, text_suite
from bench.image_suite import ImageSuiteResult
from bench.load import LoadResult
from bench.text_suite import TextSuiteResult


@dataclass
class TargetCheck:
    source: str
    target: str
    measured: str
    passed: bool | None


def _clean(*results: LoadResult | None) -> bool:
    return all(result is not None and result.errors == 0 for result in results)


def _single(result: LoadResult | None) -> float | None:
    return result.request_tokens_per_second_p50 if result else None


def _ratio_check(
    source: str, target: str, numerator: float | None, denominator: float | None, minimum: float, clean: bool
) -> TargetCheck:
    if numerator is None or not denominator:
        return TargetCheck(source, target, "not measured", None)
    ratio = numerator / denominator
    measured = f"{ratio:.3f}x ({numerator:.1f} / {denominator:.1f})" + ("" if clean else ", with errors")
    return TargetCheck(source, target, measured, clean and ratio >= minimum)


def _below_check(source: str, target: str, value: float | None, limit: float, unit: str, scale: float) -> TargetCheck:
    if value is None:
        return TargetCheck(source, target, "not measured", None)
    return TargetCheck(source, target, f"{value * scale:.0f} {unit}", value < limit)


def text_checks(suite: TextSuiteResult) -> list[TargetCheck]:
    in_process = suite.find(text_suite.IN_PROCESS, 1)
    checks = []
    for source, system in (("DESIGN", text_suite.GATEWAY), ("issue 5", text_suite.GRPC)):
        one, sixteen = suite.find(system, 1), suite.find(system, 16)
        peer = suite.find(text_suite.PEER, 16)
        checks += [
            _ratio_check(
                source,
                f"{system}: 16 streams >= 6x one stream (tok/s)",
                sixteen and sixteen.aggregate_tokens_per_second,
                _single(one),
                6.0,
                _clean(one, sixteen),
            ),
            _ratio_check(
                source,
                f"{system}: 16 streams >= transformers serve at 16 (tok/s)",
                sixteen and sixteen.aggregate_tokens_per_second,
                peer and peer.aggregate_tokens_per_second,
                1.0,
                _clean(sixteen, peer),
            ),
            _ratio_check(
                source,
                f"{system}: one stream >= 90% of in-process generate (tok/s)",
                _single(one),
                _single(in_process),
                0.9,
                _clean(one, in_process),
            ),
        ]
    gateway_16 = suite.find(text_suite.GATEWAY, 16)
    checks += [
        _below_check(
            "DESIGN",
            "gateway /health p99 < 50 ms while 16 streams run",
            gateway_16 and gateway_16.health_p99,
            0.050,
            "ms",
            1000,
        ),
        _below_check(
            "DESIGN",
            "gateway time to first token p50 < 0.5 s at 16 streams",
            gateway_16 and gateway_16.ttft_p50,
            0.5,
            "ms",
            1000,
        ),
        _ratio_check(
            "issue 7",
            "gateway one stream >= 90% of direct gRPC (tok/s)",
            _single(suite.find(text_suite.GATEWAY, 1)),
            _single(suite.find(text_suite.GRPC, 1)),
            0.9,
            _clean(suite.find(text_suite.GATEWAY, 1), suite.find(text_suite.GRPC, 1)),
        ),
    ]
    return checks


def _overhead_check(source: str, target: str, service: float | None, in_process: float | None) -> TargetCheck:
    if service is None or in_process is None:
        return TargetCheck(source, target, "not measured", None)
    overhead = service / in_process - 1
    return TargetCheck(source, target, f"{overhead:+.1%} ({service:.2f}s vs {in_process:.2f}s)", overhead <= 0.05)


def image_checks(suite: ImageSuiteResult) -> list[TargetCheck]:
    in_process = suite.median_seconds(image_suite.IN_PROCESS)
    together = suite.concurrent_seconds
    apart = suite.sequential_seconds
    requests = suite.plan["batch_requests"]
    return [
        _overhead_check(
            "DESIGN",
            "image: gateway + gRPC overhead <= 5% of the pipeline's own time",
            suite.median_seconds(image_suite.GATEWAY),
            in_process,
        ),
        _overhead_check(
            "issue 6",
            "image: gRPC overhead <= 5% of the pipeline's own time",
            suite.median_seconds(image_suite.GRPC),
            in_process,
        ),
        TargetCheck(
            "DESIGN",
            f"image: {requests} concurrent compatible requests finish sooner than one after another",
            f"{together:.2f}s vs {apart:.2f}s" if together and apart else "not measured",
            together < apart if together and apart else None,
        ),
    ]


def render(checks: list[TargetCheck]) -> Table:
    table = Table(title="Targets")
    for column in ("source", "target", "measured", "result"):
        table.add_column(column)
    for check in checks:
        verdict = {True: "[green]PASS[/]", False: "[red]FAIL[/]", None: "[yellow]not measured[/]"}[check.passed]
        table.add_row(check.source, check.target, check.measured, verdict)
    return table
