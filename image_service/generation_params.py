"""What one request asks the pipeline for, validated and with every default filled in."""

from dataclasses import dataclass

SEED_MODULUS = 2**64


@dataclass(frozen=True)
class GenerationParams:
    """A request's complete, checked parameters. The engine uses every field except ``output_format``."""

    prompt: str
    negative_prompt: str
    num_inference_steps: int
    guidance_scale: float
    width: int
    height: int
    seed: int
    num_images: int
    scheduler: str
    output_format: str

    @property
    def batch_key(self) -> tuple[int, int, int, str, float]:
        """Requests with equal keys can share one pipeline call: same latent shape, timesteps and guidance."""
        return (self.width, self.height, self.num_inference_steps, self.scheduler, self.guidance_scale)

    @property
    def seeds(self) -> list[int]:
        """Image i is drawn with seed + i, so a request's images do not depend on what it was batched with."""
        return [(self.seed + index) % SEED_MODULUS for index in range(self.num_images)]
