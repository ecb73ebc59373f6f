"""What the bench runs: prompts, sizes, concurrency levels and repetitions, full or quick.

The full text plan is budgeted to finish `python -m bench text` in under 15 minutes on the 2-core CPU
machine: each peer configuration is screened once at the headline load, then every system is visited once
per round (started, measured, stopped), in an order rotated between rounds. The quick plan is a smoke run
for development, not a measurement.
"""

from dataclasses import dataclass
from pathlib import Path

from default_models import GGUF_NAME, TINY_DIR_NAME
from tests.conftest import REPO_ROOT


@dataclass(frozen=True)
class TextPlan:
    # A raw prompt every system continues past 32 greedy tokens without an end-of-sequence token (OpenVINO's
    # int4 kernels and the float32 transformers model alike; "The history of the printing press begins" ends
    # after 30 tokens on OpenVINO), so every system generates exactly max_new_tokens.
    prompt: str = "Once upon a time, in a small village by the sea, there lived"
    max_new_tokens: int = 32
    # The headline load: the targets, the peers' screening and the health probe are read here.
    streams: int = 16
    # The gateway's scaling target compares this load with the headline one.
    high_streams: int = 32
    rounds: int = 3
    # One-stream requests per visit, one after another (their median is the visit's figure).
    single_stream_repeats: int = 3
    # Each peer configuration gets one visit at the headline load; False measures the defaults only.
    screen_peer_configs: bool = True
    # Share of the time budget the screening may use: configurations due after it are skipped, so a slow
    # machine still gets its rounds.
    screening_share: float = 0.4
    health_interval_seconds: float = 0.05
    round_time_limit_seconds: float = 240.0
    # No verdict when the other processes' load average passes this share of the cores before a measurement.
    busy_load_share: float = 0.75
    # ... or when one process outside the bench uses more than this much of a core while it runs.
    busy_process_percent: float = 20.0


@dataclass(frozen=True)
class ImagePlan:
    # The original design's default request: 512x512, 50 steps, guidance 7.5.
    prompt: str = "a lighthouse on a cliff at dawn, oil painting"
    width: int = 512
    height: int = 512
    num_inference_steps: int = 50
    guidance_scale: float = 7.5
    seed: int = 1234
    rounds: int = 3
    batch_requests: int = 4


QUICK_TEXT = TextPlan(
    max_new_tokens=16, streams=4, high_streams=8, rounds=1, single_stream_repeats=1, screen_peer_configs=False
)
QUICK_IMAGE = ImagePlan(width=128, height=128, num_inference_steps=8, rounds=1, batch_requests=2)


@dataclass(frozen=True)
class BenchPaths:
    """Where the inputs are and where the outputs go."""

    text_model: Path = REPO_ROOT / "models" / "text" / GGUF_NAME
    image_model: Path = REPO_ROOT / "models" / "image" / TINY_DIR_NAME
    cache_dir: Path = REPO_ROOT / "bench" / ".cache"
    results_dir: Path = REPO_ROOT / "bench" / "results"

    @property
    def logs_dir(self) -> Path:
        return self.results_dir / "logs"
