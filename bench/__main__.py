"""`python -m bench text|image|all [--quick]`: runs the scenarios, writes JSON and plots under
bench/results/, and prints each target with PASS/FAIL (or NO VERDICT when the machine was busy)."""

import argparse
import asyncio
import json
import os
import platform
import signal
import sys
import time
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path

import psutil

from bench.plan import QUICK_IMAGE, QUICK_TEXT, BenchPaths, ImagePlan, TextPlan
from bench.progress import Budget, Progress

# What the image scenarios need of the budget on the 2-core machine (about 1.5 minutes when it is quiet).
IMAGE_SHARE_SECONDS = 180.0


def machine() -> dict:
    """Where the numbers come from; they mean little without it."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "usable_cores": len(os.sched_getaffinity(0)),
        "versions": {package: version(package) for package in ("torch", "transformers", "openvino-genai")},
        "load_average_at_start": psutil.getloadavg(),
    }


async def run(suite: str, quick: bool, budget_seconds: float, paths: BenchPaths, progress: Progress) -> None:
    """Runs the suites; imported late so that the image suite's wait policy is set before torch loads."""
    from bench.image_suite import run_image_suite
    from bench.markdown_report import image_table, targets_table, text_table
    from bench.plots import plot_image, plot_text
    from bench.targets import image_checks, render, text_checks
    from bench.text_suite import run_text_suite

    paths.results_dir.mkdir(parents=True, exist_ok=True)
    report: dict = {"suite": suite, "quick": quick, "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine()}
    checks, plots, sections, notes = [], [], [], []
    if suite in ("text", "all"):
        text_ends_at = budget_seconds - (IMAGE_SHARE_SECONDS if suite == "all" else 0)
        text = await run_text_suite(
            QUICK_TEXT if quick else TextPlan(), paths, Budget(progress, text_ends_at), progress
        )
        report["text"] = asdict(text)
        checks += text_checks(text)
        plots += plot_text(text, paths.results_dir)
        sections.append("## Text\n\n" + text_table(text))
        notes += [f"machine busy: {reason}" for reason in text.busy[:5]]
        notes += [f"... and {len(text.busy) - 5} more busy measurements (see {suite}.md)"] if len(text.busy) > 5 else []
    if suite in ("image", "all"):
        image = await run_image_suite(QUICK_IMAGE if quick else ImagePlan(), paths, progress)
        report["image"] = asdict(image)
        checks += image_checks(image)
        plots += plot_image(image, paths.results_dir)
        sections.append("## Image\n\n" + image_table(image))
    report["targets"] = [asdict(check) for check in checks]
    report["duration_seconds"] = progress.elapsed
    report["machine"]["load_average_at_end"] = psutil.getloadavg()
    output = paths.results_dir / f"{suite}.json"
    output.write_text(json.dumps(report, indent=2))
    summary = output.with_suffix(".md")
    summary.write_text("\n\n".join(["## Targets\n\n" + targets_table(checks), *sections]) + "\n")
    progress.say(f"wrote {output}, {summary.name} and {', '.join(path.name for path in plots)}")
    progress.console.print(render(checks))
    for note in notes:
        progress.say(note)
    start, end = report["machine"]["load_average_at_start"][0], report["machine"]["load_average_at_end"][0]
    progress.say(f"1-minute load average: {start:.2f} at the start, {end:.2f} at the end")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("suite", choices=("text", "image", "all"))
    parser.add_argument("--quick", action="store_true", help="a smoke run with tiny sizes, not a measurement")
    parser.add_argument("--results-dir", type=Path, default=BenchPaths().results_dir)
    parser.add_argument(
        "--budget-minutes", type=float, default=14.0, help="text visits that would end later are skipped (default 14)"
    )
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so every system the bench started is stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.suite != "text":
        # OpenMP threads that spin while they wait make the in-process image pipeline's timings swing tenfold
        # on a shared machine (0.2 s or 10 s for the same call); the image service and gateway inherit it,
        # as the image service sets it for itself. The text suite's children never see it: each gets
        # exactly the environment of the configuration being measured (bench.peer_configs).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    paths = BenchPaths(results_dir=args.results_dir)
    progress = Progress()
    try:
        asyncio.run(run(args.suite, args.quick, args.budget_minutes * 60, paths, progress))
    except KeyboardInterrupt:
        progress.say("interrupted: every system the bench started has been stopped")
        sys.exit(130)


if __name__ == "__main__":
    main()
