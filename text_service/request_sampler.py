"""Per-request sampling inside a shared continuous batch, with each request's own random generator.

transformers' continuous batching manager decides greedy versus sampling once for the whole manager and
draws from torch's global generator, so a seed cannot be honoured per request: two requests with the same
seed would get different tokens depending on what else shared their batch. The manager does run
logits processors on every row of every step, with per-request arguments carried as tensors. This
processor uses that hook to do the whole choice itself: for each row it applies the request's repetition
penalty, temperature, top-k and top-p, then draws one uniform number from the request's own
``torch.Generator`` (seeded from the request) and picks the token by inverse CDF. The chosen token's
score is left alone and every other score is set to -inf, so the manager, configured for greedy decoding,
picks exactly that token with its argmax. Greedy rows without a penalty are left untouched, so an
all-greedy batch costs one small tensor read per step.

The same seed, prompt and parameters give the same tokens whatever the batch holds, as long as the
logits are the same: batched float matmuls can differ from unbatched ones in the last bits, which flips a
token only when two candidates are within rounding of each other (the same caveat vLLM documents).

The processor also sees every step's rows, which makes it the place to count decode steps and batch sizes,
to hold a request to its guide (a ``GuideMatcher`` masks its row before the choice and learns the chosen
token after it) and to record logprobs: the log-softmax of the row as the model gave it, before the
repetition penalty, temperature, top-k, top-p and the guide's mask. The chosen token is the row's
argmax once the processor is done, exactly what the manager then picks.
"""

import itertools
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from llguidance import LLTokenizer
from transformers.generation.continuous_batching.cb_logits_processors import ContinuousBatchingLogitsProcessor
from transformers.generation.continuous_batching.requests import FutureRequestState, RequestState

from text_service import transformers_internals as internals
from text_service.engine import DecodeSteps, SamplingOptions, TokenLogprob
from text_service.guide_matcher import GuideMatcher
from text_service.guided import Guide

SLOT_KWARG = "hearth_sampling_slot"
NO_SLOT = -1
SLOT_RANGE = 2**31 - 1


@dataclass
class _Slot:
    options: SamplingOptions
    generator: torch.Generator
    matcher: GuideMatcher | None = None
    top_logprobs: int | None = None
    logprobs: list[TokenLogprob] = field(default_factory=list)
    state: RequestState | None = None

    @property
    def untouched(self) -> bool:
        plain = self.matcher is None and self.top_logprobs is None
        return plain and self.options.greedy and self.options.repetition_penalty == 1.0


class RequestSampler(ContinuousBatchingLogitsProcessor):
    """Chooses each request's next token with its own sampling options and generator."""

    supported_kwargs: ClassVar[dict[str, type]] = {SLOT_KWARG: int}
    ignored_kwargs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, steps: DecodeSteps, guide_tokenizer: LLTokenizer) -> None:
        self.steps = steps
        self._guide_tokenizer = guide_tokenizer
        self._slots: dict[int, _Slot] = {}
        self._next_slot = itertools.count()

    def add(self, options: SamplingOptions, guide: Guide | None = None, top_logprobs: int | None = None) -> int:
        """Registers a request's options, guide and logprobs wish; returns the slot id to pass with the request."""
        matcher = GuideMatcher(self._guide_tokenizer, guide) if guide is not None else None
        slot = next(self._next_slot) % SLOT_RANGE
        self._slots[slot] = _Slot(options, torch.Generator().manual_seed(options.seed), matcher, top_logprobs)
        return slot

    def logprobs(self, slot: int) -> list[TokenLogprob]:
        """The request's logprobs so far, one per token chosen (read on the event loop, appended on the
        generation thread before the token is handed out)."""
        entry = self._slots.get(slot)
        return entry.logprobs if entry is not None else []

    def remove(self, slot: int) -> None:
        self._slots.pop(slot, None)

    def __len__(self) -> int:
        return len(self._slots)

    def fill_defaults(self, int32_tensor: torch.Tensor) -> None:
        int32_tensor.fill_(NO_SLOT)

    def prepare_tensor_args(self, requests_with_new_token: list[FutureRequestState]) -> torch.Tensor:
        """Runs on the generation thread before each forward pass: one slot id per row that gets a token."""
        slots = []
        for future in requests_with_new_token:
            state = internals.request_state(future)
            slot = internals.request_kwarg(state, SLOT_KWARG, NO_SLOT)
            entry = self._slots.get(slot)
            if entry is not None and entry.options.repetition_penalty != 1.0:
                entry.state = state
            slots.append(slot)
        if slots:
            self.steps.record(len(slots))
        return torch.tensor(slots, dtype=torch.int32)

    def __call__(self, scores: torch.Tensor, tensor_arg: torch.Tensor) -> torch.Tensor:
        """Processes the rows that need it; scores has one row per request that gets a token this step."""
        rows = [
            (row, entry)
            for row, slot in enumerate(tensor_arg[: scores.size(0)].tolist())
            if (entry := self._slots.get(slot)) is not None and not entry.untouched
        ]
        if not rows:
            return scores
        log_probs = {row: scores[row].log_softmax(dim=-1) for row, entry in rows if entry.top_logprobs is not None}
        for row, entry in rows:
            if entry.options.repetition_penalty != 1.0 and entry.state is not None:
                _penalize(scores[row], entry.state, entry.options.repetition_penalty)
        for row, entry in rows:
            if entry.matcher is not None:
                entry.matcher.mask(scores[row])
        sampled = [(row, entry) for row, entry in rows if not entry.options.greedy]
        if sampled:
            _sample_rows(scores, sampled)
        for row, entry in rows:
            if entry.matcher is None and entry.top_logprobs is None:
                continue
            token = int(scores[row].argmax())
            if entry.matcher is not None:
                entry.matcher.accept(token)
            if entry.top_logprobs is not None:
                entry.logprobs.append(_token_logprob(log_probs[row], token, entry.top_logprobs))
        return scores


def _token_logprob(log_probs: torch.Tensor, token: int, top: int) -> TokenLogprob:
    values, ids = log_probs.topk(top) if top else (log_probs[:0], log_probs[:0])
    return TokenLogprob(float(log_probs[token]), tuple(zip(ids.tolist(), values.tolist(), strict=True)))


def _penalize(row_scores: torch.Tensor, state: RequestState, penalty: float) -> None:
    """CTRL's repetition penalty, as transformers applies it: seen tokens' scores move towards less likely."""
    seen = torch.tensor(sorted(internals.seen_tokens(state)), device=row_scores.device)
    seen = seen[(seen >= 0) & (seen < row_scores.numel())]
    values = row_scores[seen]
    row_scores[seen] = torch.where(values < 0, values * penalty, values / penalty)


def _sample_rows(scores: torch.Tensor, rows: list[tuple[int, _Slot]]) -> None:
    """Temperature, top-k and top-p for all sampled rows at once, then one draw per row from its generator."""
    device = scores.device
    index = torch.tensor([row for row, _ in rows], device=device)
    options = [entry.options for _, entry in rows]
    vocab = scores.size(-1)
    temperature = torch.tensor([o.temperature for o in options], device=device)
    top_k = torch.tensor([o.top_k or vocab for o in options], device=device)
    top_p = torch.tensor([o.top_p for o in options], device=device)
    uniform = torch.tensor([torch.rand((), generator=entry.generator).item() for _, entry in rows], device=device)

    sorted_logits, order = (scores[index] / temperature[:, None]).sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    positions = torch.arange(vocab, device=device)
    keep = (positions[None, :] < top_k[:, None]) & ((probs.cumsum(dim=-1) - probs) < top_p[:, None])
    keep[:, 0] = True
    cdf = probs.masked_fill(~keep, 0.0).cumsum(dim=-1)
    picks = torch.searchsorted(cdf, (uniform * cdf[:, -1])[:, None], right=True).clamp(max=vocab - 1)
    tokens = order.gather(-1, picks).squeeze(-1)

    chosen = scores[index].gather(-1, tokens[:, None])
    scores[index] = float("-inf")
    scores[index[:, None], tokens[:, None]] = chosen
