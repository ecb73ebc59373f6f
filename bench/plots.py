"""Plots of one run, written next to its JSON: throughput and latencies against concurrency, image times.

The figures are built with matplotlib's object API (no pyplot), so no GUI backend is ever chosen.
"""

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench import image_suite
from bench.image_suite import ImageSuiteResult
from bench.text_suite import TextSuiteResult


def _series(suite: TextSuiteResult, metric: str) -> dict[str, tuple[list[int], list[float]]]:
    """Per system, the median over the rounds of `metric` at each concurrency measured."""
    series: dict[str, tuple[list[int], list[float]]] = {}
    measured = sorted({(r.system, r.concurrency) for r in suite.results if r.round}, key=lambda key: key[1])
    for system, concurrency in measured:
        value = suite.spread(system, concurrency, metric).median
        if value is not None:
            xs, ys = series.setdefault(system, ([], []))
            xs.append(concurrency)
            ys.append(value)
    return series


def _colors(suite: TextSuiteResult) -> dict[str, str]:
    """One color per system, the same in every panel."""
    systems = dict.fromkeys(result.system for result in suite.results if result.round)
    return {system: f"C{index}" for index, system in enumerate(systems)}


def _draw(
    axis: Axes, series: dict[str, tuple[list[int], list[float]]], colors: dict[str, str], title: str, ylabel: str
) -> None:
    for system, (xs, ys) in series.items():
        axis.plot(xs, ys, marker="o", label=system, color=colors[system])
    axis.set_title(title)
    axis.set_xlabel("concurrent streams")
    axis.set_ylabel(ylabel)
    axis.set_xscale("log", base=2)
    ticks = sorted({x for xs, _ in series.values() for x in xs})
    axis.set_xticks(ticks, [str(tick) for tick in ticks])
    axis.grid(True, alpha=0.3)


def plot_text(suite: TextSuiteResult, results_dir: Path) -> list[Path]:
    """text_throughput.png (aggregate tok/s) and text_latency.png (TTFT, inter-token, /health)."""
    colors = _colors(suite)
    figure = Figure(figsize=(7, 4.5))
    axis = figure.subplots()
    _draw(axis, _series(suite, "aggregate_tokens_per_second"), colors, "Aggregate throughput (median)", "tokens/s")
    axis.legend(fontsize=8)
    throughput = results_dir / "text_throughput.png"
    figure.tight_layout()
    figure.savefig(throughput, dpi=100)

    figure = Figure(figsize=(15, 8.5))
    axes = figure.subplots(2, 3)
    panels = [
        ("ttft_p50", "Time to first token p50", "s"),
        ("itl_p50", "Inter-token latency p50", "s"),
        ("health_p50", "/health p50 under load", "s"),
        ("ttft_p99", "Time to first token p99", "s"),
        ("itl_p99", "Inter-token latency p99", "s"),
        ("health_p99", "/health p99 under load", "s"),
    ]
    for axis, (metric, title, unit) in zip(axes.flat, panels, strict=True):
        _draw(axis, _series(suite, metric), colors, title, unit)
        axis.set_yscale("log")
    handles = [Line2D([], [], color=color, marker="o", label=system) for system, color in colors.items()]
    figure.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=9)
    latency = results_dir / "text_latency.png"
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    figure.savefig(latency, dpi=100)
    return [throughput, latency]


def plot_image(suite: ImageSuiteResult, results_dir: Path) -> list[Path]:
    """image.png: median time per image for each path, and sequential vs concurrent requests."""
    figure = Figure(figsize=(11, 4))
    left, right = figure.subplots(1, 2)
    systems = [image_suite.IN_PROCESS, image_suite.GRPC, image_suite.GATEWAY]
    medians = [suite.median_seconds(name) for name in systems]
    shown = [(name, value) for name, value in zip(systems, medians, strict=True) if value is not None]
    left.bar([name for name, _ in shown], [value for _, value in shown], color="tab:blue")
    left.set_title("Time per image (median)")
    left.set_ylabel("s")
    if suite.sequential_seconds and suite.concurrent_seconds:
        requests = suite.plan["batch_requests"]
        right.bar(
            [f"{requests} one after another", f"{requests} at once"],
            [suite.sequential_seconds, suite.concurrent_seconds],
            color=["tab:gray", "tab:green"],
        )
    right.set_title("Compatible requests over gRPC")
    right.set_ylabel("s")
    path = results_dir / "image.png"
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return [path]
