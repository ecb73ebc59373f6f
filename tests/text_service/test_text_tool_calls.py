"""Reading tool calls out of streamed model text: a call's own text is never released as text."""

import json

import pytest

from text_service.tool_calls import ToolCallExtractor, ToolSpec, ToolUse

TOOLS = (ToolSpec("get_weather", "", {"type": "object"}),)


def _feed(use: ToolUse, pieces: list[str]) -> tuple[list[str], list[str]]:
    """Releases and calls (as 'name arguments') after each piece, then at the end."""
    extractor = ToolCallExtractor(use)
    texts, calls = [], []
    for piece in pieces:
        text, new_calls = extractor.push(piece)
        texts.append(text)
        calls += [f"{call.name} {call.arguments}" for call in new_calls]
    text, new_calls = extractor.finish()
    texts.append(text)
    calls += [f"{call.name} {call.arguments}" for call in new_calls]
    return texts, calls


def test_auto_streams_text_and_lifts_a_call_split_over_deltas() -> None:
    pieces = ["Let me check. <to", 'ol_call>{"name": "get_weather", ', '"arguments": {"town": "Oslo"}}</tool', "_call>"]
    texts, calls = _feed(ToolUse(TOOLS, "auto"), pieces)
    assert texts[0] == "Let me check. ", "the start of the tag is held back"
    assert "".join(texts) == "Let me check. "
    assert calls == ['get_weather {"town": "Oslo"}']


def test_auto_releases_text_that_only_looked_like_a_call() -> None:
    texts, calls = _feed(ToolUse(TOOLS, "auto"), ["a <to", "y> b <tool_call>not json</tool_call> c"])
    assert "".join(texts) == "a <toy> b <tool_call>not json</tool_call> c"
    assert calls == []


@pytest.mark.parametrize("closed", [True, False])
def test_a_forced_call_is_the_whole_output(closed: bool) -> None:
    call = json.dumps({"name": "get_weather", "arguments": {"town": "Oslo"}})
    pieces = [call[:10], call[10:]] if closed else [call[:10]]
    texts, calls = _feed(ToolUse(TOOLS, "required"), pieces)
    if closed:
        assert "".join(texts) == ""
        assert calls == ['get_weather {"town": "Oslo"}']
    else:
        assert "".join(texts) == call[:10], "a call cut short by max_new_tokens comes back as text"
        assert calls == []
