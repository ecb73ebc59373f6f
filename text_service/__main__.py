"""``python -m text_service``: settings from HEARTH_TEXT_* and CLI flags (``--help`` lists them)."""

import os

# Offline always: huggingface_hub reads this when it is first imported, so it is set before anything loads it.
os.environ["HF_HUB_OFFLINE"] = "1"

import asyncio

from pydantic_settings import CliApp

from text_service.service import serve
from text_service.settings import TextSettings


def main() -> None:
    settings = CliApp.run(TextSettings)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
