"""The original single-file design, kept as the baseline Hearth is measured against.

One FastAPI process loads the model at start-up and calls ``model.generate`` inside an ``async`` request
handler, as the original app did: no batching, and the event loop (``/health`` included) is blocked while a
request generates. Only the text route is kept; the response adds ``completion_tokens`` so the bench can
count tokens without a tokenizer of its own. Run as ``python -m bench.naive_baseline --model X --port N``.
"""

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import torch
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

from bench.text_model import load_text_model


class TextRequest(BaseModel):
    prompt: str
    max_new_tokens: int = 100
    temperature: float = 0.7
    do_sample: bool = True


class TextResponse(BaseModel):
    generated_text: str
    completion_tokens: int


def build_app(model_path: Path) -> FastAPI:
    """The baseline app; the model loads in the lifespan, like the original's startup hook."""
    state: dict = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["model"], state["tokenizer"] = load_text_model(model_path)
        yield

    app = FastAPI(title="Naive baseline (original single-file design)", lifespan=lifespan)

    @app.post("/generate-text", response_model=TextResponse)
    async def generate_text(req: TextRequest) -> TextResponse:
        tokenizer = state["tokenizer"]
        inputs = tokenizer(req.prompt, return_tensors="pt")
        with torch.inference_mode():
            output_ids = state["model"].generate(
                **inputs,
                max_new_tokens=req.max_new_tokens,
                temperature=req.temperature,
                do_sample=req.do_sample,
                pad_token_id=tokenizer.eos_token_id,
            )
        return TextResponse(
            generated_text=tokenizer.decode(output_ids[0], skip_special_tokens=True),
            completion_tokens=output_ids.shape[1] - inputs["input_ids"].shape[1],
        )

    @app.get("/health")
    async def health() -> dict:
        return {"api_status": "running", "text_model_loaded": "model" in state, "device": "cpu"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="GGUF file of the text model")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(build_app(args.model), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
