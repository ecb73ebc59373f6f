"""Fetches or builds the embedded default models: ``python -m default_models [--models-dir models]``.

Idempotent: what is already in place and intact is left alone, and nothing is downloaded twice. The image
model is copied from the folder the project commits (it was trained once, by ``default_models.train_scenes``);
the tiny random pipeline beside it is built from configs.
"""

import argparse
from pathlib import Path

from default_models.scenes import ensure_scenes_model
from default_models.text_gguf import ensure_text_model


def main() -> None:
    parser = argparse.ArgumentParser(description="Fetch or build Hearth's embedded default models.")
    parser.add_argument("--models-dir", type=Path, default=Path("models"), help="where the models live")
    parser.add_argument("--only", choices=["text", "image"], help="prepare just one of the two")
    args = parser.parse_args()
    if args.only in (None, "text"):
        print(f"text model:  {ensure_text_model(args.models_dir)}")
    if args.only in (None, "image"):
        from default_models.tiny_sd import ensure_tiny_image_model  # torch and diffusers: only when building it

        print(f"image model: {ensure_scenes_model(args.models_dir)}")
        print(f"tiny random image pipeline (tests): {ensure_tiny_image_model(args.models_dir)}")


if __name__ == "__main__":
    main()
