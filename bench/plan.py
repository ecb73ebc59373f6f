"""What the bench runs: prompts, sizes, concurrency levels and repetitions, full or quick.

The full plan is budgeted to finish `python -m bench all` in under 15 minutes on the 2-core CPU machine:
single streams are repeated (their ratios are the noisiest), high concurrency runs once. The quick plan is
a smoke run for development, not a measurement.
"""

from dataclasses import dataclass
from pathlib import Path

from default_models import DIR_NAME, GGUF_NAME
from tests.conftest import REPO_ROOT


@dataclass(frozen=True)
class TextPlan:
    # A raw prompt the embedded model continues past 32 tokens without an end-of-sequence token, so
    # every system generates exactly max_new_tokens.
    prompt: str = "The history of the printing press begins"
    max_new_tokens: int = 32
    # 16 comes right after 1: the targets are read there, so a run cut short by its time budget still has them.
    concurrencies: tuple[int, ...] = (1, 16, 4, 8, 32)
    single_stream_rounds: int = 3
    warmup_burst: int = 8
    round_time_limit_seconds: float = 240.0

    def rounds_at(self, concurrency: int) -> int:
        """Repetitions at a concurrency: more where a round is short and noisy."""
        if concurrency == 1:
            return self.single_stream_rounds
        return 2 if concurrency <= 4 else 1


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


QUICK_TEXT = TextPlan(max_new_tokens=8, concurrencies=(1, 4), single_stream_rounds=1, warmup_burst=2)
QUICK_IMAGE = ImagePlan(width=128, height=128, num_inference_steps=8, rounds=1, batch_requests=2)


@dataclass(frozen=True)
class BenchPaths:
    """Where the inputs are and where the outputs go."""

    text_model: Path = REPO_ROOT / "models" / "text" / GGUF_NAME
    image_model: Path = REPO_ROOT / "models" / "image" / DIR_NAME
    cache_dir: Path = REPO_ROOT / "bench" / ".cache"
    results_dir: Path = REPO_ROOT / "bench" / "results"

    @property
    def logs_dir(self) -> Path:
        return self.results_dir / "logs"
