"""The targets of the design document and of issue 13, checked against one run's numbers.

A target whose inputs were not measured in this run (a suite not run, a system missing) shows as not
measured rather than PASS or FAIL; a figure with invalid rounds of Hearth (answers with the wrong token
count or finish reason) FAILs. A text run on a busy machine gives NO VERDICT for every text target: its
numbers are kept, but a reader rerunning it on a quiet machine could get others. So does a comparison with
a peer whose screening the time budget cut short: its best configuration may not have been tried.
"""

from collections.abc import Callable
from dataclasses import dataclass

from rich.markup import escape
from rich.table import Table

from bench import image_suite
from bench.image_suite import ImageSuiteResult
from bench.round_stats import Spread
from bench.text_suite import TextSuiteResult
from bench.text_systems import GATEWAY, GRPC, OPENVINO, PEER


@dataclass
class TargetCheck:
    source: str
    target: str
    measured: str
    passed: bool | None
    no_verdict: str | None = None

    @property
    def verdict(self) -> str:
        if self.passed is None:
            return "not measured"
        if self.no_verdict:
            return f"NO VERDICT ({self.no_verdict})"
        return "PASS" if self.passed else "FAIL"


def _invalid_note(*spreads: Spread) -> str:
    invalid = sum(one.invalid_rounds for one in spreads)
    return f", {invalid} invalid round(s) left out" if invalid else ""


def _ratio(numerator: Spread, denominator: Spread) -> tuple[float, str] | None:
    """The ratio of two medians and how the report writes it; None when either was not measured."""
    if numerator.median is None or not denominator.median:
        return None
    ratio = numerator.median / denominator.median
    return ratio, f"{ratio:.2f}x ({numerator.median:.1f} / {denominator.median:.1f})" + _invalid_note(
        numerator, denominator
    )


def _ratio_check(target: str, numerator: Spread, denominator: Spread, minimum: float) -> TargetCheck:
    measured = _ratio(numerator, denominator)
    if measured is None:
        return TargetCheck("issue 13", target, "not measured" + _invalid_note(numerator, denominator), None)
    ratio, text = measured
    return TargetCheck("issue 13", target, text, ratio >= minimum and not numerator.invalid_rounds)


def _limit_check(
    target: str, value: Spread, meets: Callable[[float], bool], unit: str, scale: float = 1.0
) -> TargetCheck:
    if value.median is None:
        return TargetCheck("issue 13", target, "not measured" + _invalid_note(value), None)
    passed = meets(value.median) and not value.invalid_rounds
    return TargetCheck("issue 13", target, f"{value.describe(scale, 0 if scale > 1 else 1)} {unit}", passed)


def text_checks(suite: TextSuiteResult) -> list[TargetCheck]:
    """The acceptance of issue 13, on the medians over the rounds."""
    streams, high = suite.plan["streams"], suite.plan["high_streams"]
    gateway = suite.spread(GATEWAY, streams, "aggregate_tokens_per_second")
    grpc_one = suite.spread(GRPC, 1, "request_tokens_per_second_p50")
    checks = [
        _ratio_check(
            f"gateway {streams} streams >= 2.0x transformers serve in its best configuration (tok/s)",
            gateway,
            suite.spread(PEER, streams, "aggregate_tokens_per_second"),
            2.0,
        ),
        _limit_check("gRPC one stream >= 55 tok/s", grpc_one, lambda tps: tps >= 55.0, "tok/s"),
        _ratio_check(
            "gRPC one stream >= 0.9x OpenVINO GenAI in-process (tok/s)",
            grpc_one,
            suite.spread(OPENVINO, 1, "request_tokens_per_second_p50"),
            0.9,
        ),
        _limit_check(
            f"gateway time to first token p50 <= 0.3 s at {streams} streams",
            suite.spread(GATEWAY, streams, "ttft_p50"),
            lambda seconds: seconds <= 0.3,
            "ms",
            1000,
        ),
        _limit_check(
            f"gateway /health p99 < 50 ms while {streams} streams run",
            suite.spread(GATEWAY, streams, "health_p99"),
            lambda seconds: seconds < 0.050,
            "ms",
            1000,
        ),
        _ratio_check(
            f"gateway {high} streams >= 1.4x its {streams}-stream aggregate (tok/s)",
            suite.spread(GATEWAY, high, "aggregate_tokens_per_second"),
            gateway,
            1.4,
        ),
    ]
    engine_scaling = _ratio(
        suite.spread(OPENVINO, high, "aggregate_tokens_per_second"),
        suite.spread(OPENVINO, streams, "aggregate_tokens_per_second"),
    )
    if engine_scaling:
        checks[-1].measured += f"; OpenVINO GenAI in-process alone, the engine's ceiling: {engine_scaling[1]}"
    for check, peer in zip(checks, (PEER, None, OPENVINO, None, None, None), strict=True):
        if suite.busy_summary:
            check.no_verdict = f"machine busy: {suite.busy_summary}"
        elif peer and suite.screening_cut_short(peer):
            check.no_verdict = f"{peer} not screened in every configuration"
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
        color = "yellow" if check.passed is None or check.no_verdict else "green" if check.passed else "red"
        table.add_row(check.source, check.target, check.measured, f"[{color}]{escape(check.verdict)}[/]")
    return table
