"""``python -m image_service``: settings from HEARTH_IMAGE_* and CLI flags (``--help`` lists them)."""

import os

# Offline always: huggingface_hub reads this when it is first imported, so it is set before anything loads it.
os.environ["HF_HUB_OFFLINE"] = "1"

from pydantic_settings import CliApp

from image_service.settings import ImageSettings
from image_service.startup import run


def main() -> None:
    run(CliApp.run(ImageSettings))


if __name__ == "__main__":
    main()
