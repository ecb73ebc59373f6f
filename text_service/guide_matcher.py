"""One request's guided-decoding state in the transformers engine: which tokens may come next.

llguidance's matcher walks the request's grammar token by token. Before each of the request's tokens it
gives a bitmask of the allowed ones (every token that keeps the output a prefix of the language, and the
end-of-sequence token once a whole word is complete); the request's row of logits keeps those and the
rest become -inf, so greedy and sampled choices alike stay inside the language. The matcher is then told
which token was chosen. The state lives with the request (one matcher per request), so constrained and
free requests share one batch. llguidance's own torch helper masks with ``torch.compile``, which on a CPU
machine means a C compiler at run time; the bit unpacking here is three plain tensor operations.
"""

import llguidance.hf
import torch
from llguidance import LLMatcher, LLTokenizer
from llguidance.torch import fill_next_token_bitmask
from transformers import PreTrainedTokenizerBase

from serving_core.request_errors import InvalidField
from text_service.guided import Guide

BITS = torch.arange(32, dtype=torch.int32)


def guide_tokenizer(tokenizer: PreTrainedTokenizerBase, vocab_size: int) -> LLTokenizer:
    """llguidance's view of the model's vocabulary; about a second to build, so once per engine."""
    return llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size)


class GuideMatcher:
    """Masks one request's logits to its guide and follows the tokens it is given."""

    def __init__(self, tokenizer: LLTokenizer, guide: Guide) -> None:
        self._matcher = LLMatcher(tokenizer, guide.llguidance_grammar(), log_level=0)
        if self._matcher.is_error():
            raise InvalidField(guide.field, f"does not compile: {self._matcher.get_error()}")
        self._bitmask = torch.zeros((1, (tokenizer.vocab_size + 31) // 32), dtype=torch.int32)

    def mask(self, row_scores: torch.Tensor) -> None:
        """Sets the score of every token the guide does not allow next to -inf, in place."""
        fill_next_token_bitmask(self._matcher, self._bitmask)
        allowed = ((self._bitmask[0].unsqueeze(-1) >> BITS) & 1).flatten().bool()
        vocab = row_scores.numel()
        row_scores[: allowed.numel()].masked_fill_(~allowed[:vocab], float("-inf"))
        row_scores[allowed.numel() :] = float("-inf")

    def accept(self, token_id: int) -> None:
        self._matcher.consume_token(token_id)
