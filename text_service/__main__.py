"""``python -m text_service``: settings from HEARTH_TEXT_* and CLI flags (``--help`` lists them)."""

import os

# Offline always: huggingface_hub reads this when it is first imported, so it is set before anything loads it.
os.environ["HF_HUB_OFFLINE"] = "1"
# OpenMP threads that spin while waiting starve the gRPC threads on a small CPU, and collapse when other
# processes share it (docs/architecture.md has the numbers); OpenMP reads this once, when torch loads it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pydantic_settings import CliApp

from text_service.settings import TextSettings
from text_service.startup import run


def main() -> None:
    run(CliApp.run(TextSettings))


if __name__ == "__main__":
    main()
