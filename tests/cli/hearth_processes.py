"""Running the installed `hearth` console script as a user would from a shell, and reading the services."""

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import grpc

from hearth.image.v1 import image_service_pb2 as image_pb
from hearth.image.v1 import image_service_pb2_grpc as image_grpc
from hearth.text.v1 import text_service_pb2 as text_pb
from hearth.text.v1 import text_service_pb2_grpc as text_grpc
from tests.service_processes import ServiceProcess

HEARTH_SCRIPT = Path(sys.executable).with_name("hearth")
Stats = TypeVar("Stats")


def hearth_env(**settings: str) -> dict[str, str]:
    """The environment of a `hearth` run: wide enough that Rich never wraps a line, no colour codes."""
    env = dict(os.environ)
    env.update({"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})
    env.update(settings)
    return env


def run_hearth(
    args: Sequence[str], *, stdin: str | None = None, timeout: float = 180.0, **settings: str
) -> subprocess.CompletedProcess[str]:
    """Runs `hearth ARGS` to the end and returns its exit code, stdout and stderr."""
    return subprocess.run(
        [str(HEARTH_SCRIPT), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=hearth_env(**settings),
        check=False,
    )


# Ctrl-C reaches a terminal's foreground job, but under a shell without job control SIGINT is ignored, and an
# ignored signal stays ignored across exec: a small Python restores it, then execs `hearth`. Not preexec_fn,
# which forks in Python with gRPC's threads running in this process and crashed the child (SIGSEGV).
_WITH_CTRL_C = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
)


def start_hearth(args: Sequence[str], **settings: str) -> subprocess.Popen[str]:
    """Starts `hearth ARGS` without waiting, for tests that interrupt it with SIGINT as Ctrl-C would."""
    return subprocess.Popen(
        [sys.executable, "-c", _WITH_CTRL_C, str(HEARTH_SCRIPT), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=hearth_env(**settings),
    )


def text_model_info(target: str) -> text_pb.GetModelInfoResponse:
    """The text service's GetModelInfo: model, limits, capabilities and live counts."""
    with grpc.insecure_channel(target) as channel:
        stub = text_grpc.TextGenerationServiceStub(channel)
        return stub.GetModelInfo(text_pb.GetModelInfoRequest(), timeout=10)


def text_stats(target: str) -> text_pb.EngineStats:
    """The text service's live counts (GetModelInfo)."""
    return text_model_info(target).stats


def image_stats(target: str) -> image_pb.ImageStats:
    """The image service's live counts (GetModelInfo)."""
    with grpc.insecure_channel(target) as channel:
        stub = image_grpc.ImageGenerationServiceStub(channel)
        return stub.GetModelInfo(image_pb.GetModelInfoRequest(), timeout=10).stats


def wait_for_stats(read: Callable[[], Stats], done: Callable[[Stats], bool], timeout: float = 300.0) -> Stats:
    """Polls a service's counts until `done` holds; the timeout only guards against a hang."""
    deadline = time.monotonic() + timeout
    while True:
        stats = read()
        if done(stats) or time.monotonic() > deadline:
            return stats
        time.sleep(0.2)


def request_log_lines(service: ServiceProcess) -> list[dict]:
    """The service's structured per-request log lines (JSON lines with msg "request")."""
    lines = []
    for text in service.log_path.read_text(errors="replace").splitlines():
        if text.startswith("{"):
            line = json.loads(text)
            if line.get("msg") == "request":
                lines.append(line)
    return lines
