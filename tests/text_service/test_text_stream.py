"""Token ids to text deltas: whole characters, stop strings caught across tokens and never streamed."""

from transformers import PreTrainedTokenizerBase

from text_service.text_stream import StopAwareDetokenizer

MIXED_TEXT = "Grüße aus 東京 🙂🔥 — naïve café, fin."


def _deltas(tokenizer: PreTrainedTokenizerBase, text: str, stops: tuple[str, ...]) -> tuple[list[str], bool]:
    """Feeds the text's tokens one at a time, as the engine does; returns the released deltas and stopped."""
    detokenizer = StopAwareDetokenizer(tokenizer._tokenizer, stops)
    deltas = []
    for token_id in tokenizer(text, add_special_tokens=False)["input_ids"]:
        released = detokenizer.push([token_id])
        deltas.append(released.text)
        if released.stopped:
            return deltas, True
    deltas.append(detokenizer.flush())
    return deltas, False


def test_deltas_are_whole_characters_and_join_to_the_decoded_text(text_tokenizer: PreTrainedTokenizerBase) -> None:
    ids = text_tokenizer(MIXED_TEXT, add_special_tokens=False)["input_ids"]
    deltas, stopped = _deltas(text_tokenizer, MIXED_TEXT, ())
    assert not stopped
    assert "".join(deltas) == text_tokenizer.decode(ids) == MIXED_TEXT
    assert all("\ufffd" not in delta for delta in deltas)
    assert "" in deltas, "some tokens are partial characters and release nothing"


def test_special_tokens_are_not_in_the_text(text_tokenizer: PreTrainedTokenizerBase) -> None:
    deltas, _ = _deltas(text_tokenizer, "done<|im_end|>", ())
    assert "".join(deltas) == "done"


def test_a_stop_string_spanning_tokens_ends_the_text_before_it(text_tokenizer: PreTrainedTokenizerBase) -> None:
    text = "The fire was warm. The end of the story came soon after that."
    stop = "end of the"
    assert len(text_tokenizer(stop, add_special_tokens=False)["input_ids"]) > 1
    deltas, stopped = _deltas(text_tokenizer, text, (stop, "unused"))
    assert stopped
    assert "".join(deltas) == "The fire was warm. The ", "nothing of the stop string was ever released"


def test_text_held_back_for_a_stop_string_that_never_completes_is_released(
    text_tokenizer: PreTrainedTokenizerBase,
) -> None:
    text = "We sat by the hearth and the hea"
    deltas, stopped = _deltas(text_tokenizer, text, ("heat",))
    assert not stopped
    assert "".join(deltas) == text
    assert deltas[-1].endswith("hea"), "the possible start of 'heat' waited for the end"


def test_the_earliest_of_several_stop_strings_wins(text_tokenizer: PreTrainedTokenizerBase) -> None:
    deltas, stopped = _deltas(text_tokenizer, "one two three four", ("four", "two thr"))
    assert stopped
    assert "".join(deltas) == "one "
