"""`hearth text` against the real stack: streamed output, --json, stdin, --chat, the gRPC path, constraints."""

import json
import re
from pathlib import Path

import jsonschema
import pytest

from hearth_cli.errors import EXIT_REJECTED
from tests.cli.hearth_processes import run_hearth
from tests.http_gateway.gateway_process import GatewayProcess
from tests.service_processes import ServiceProcess

PROMPT = "The three primary colours are"
GREEDY = ["--max-tokens", "8", "--temperature", "0"]
COLOUR = {
    "type": "object",
    "properties": {"colour": {"enum": ["red", "green", "blue"]}},
    "required": ["colour"],
    "additionalProperties": False,
}
PHONE = "[0-9]{3}-[0-9]{4}"


def _json_text(args: list[str], **kwargs: str) -> dict:
    result = run_hearth(["text", *args, "--json"], **kwargs)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_text_streams_tokens_to_stdout_and_a_summary_to_stderr(gateway: GatewayProcess) -> None:
    result = run_hearth(["text", PROMPT, *GREEDY, "--url", gateway.url])

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert PROMPT not in result.stdout
    assert "tokens" in result.stderr


def test_json_output_has_the_text_finish_reason_and_usage(gateway: GatewayProcess) -> None:
    body = _json_text([PROMPT, *GREEDY, "--url", gateway.url])

    assert body["text"].strip()
    assert body["finish_reason"]
    assert 0 < body["usage"]["completion_tokens"] <= 8


def test_a_dash_reads_the_prompt_from_stdin(gateway: GatewayProcess) -> None:
    from_argument = _json_text([PROMPT, *GREEDY, "--url", gateway.url])
    from_stdin = _json_text(["-", *GREEDY, "--url", gateway.url], stdin=PROMPT)

    assert from_stdin["text"] == from_argument["text"]


def test_grpc_to_the_text_service_gives_the_same_greedy_text_as_the_gateway(
    gateway: GatewayProcess, text_service: ServiceProcess
) -> None:
    through_gateway = _json_text([PROMPT, *GREEDY, "--url", gateway.url])
    direct = _json_text([PROMPT, *GREEDY, "--grpc", text_service.target])

    assert direct["text"] == through_gateway["text"]
    assert direct["usage"]["completion_tokens"] == through_gateway["usage"]["completion_tokens"]


def test_chat_goes_through_the_chat_template(gateway: GatewayProcess, text_service: ServiceProcess) -> None:
    through_gateway = _json_text(["Say hello.", "--chat", *GREEDY, "--url", gateway.url])
    direct = _json_text(["Say hello.", "--chat", *GREEDY, "--grpc", text_service.target])
    raw = _json_text(["Say hello.", *GREEDY, "--url", gateway.url])

    assert through_gateway["text"].strip()
    assert through_gateway["text"] == direct["text"]
    assert through_gateway["text"] != raw["text"]


@pytest.mark.parametrize("chat", [[], ["--chat"]])
def test_a_json_schema_file_makes_the_output_valid_json(gateway: GatewayProcess, tmp_path: Path, chat: list) -> None:
    schema = tmp_path / "colour.json"
    schema.write_text(json.dumps(COLOUR))
    body = _json_text(
        ["Pick a colour.", *chat, "--json-schema", str(schema), "--max-tokens", "40", "--url", gateway.url]
    )

    jsonschema.validate(json.loads(body["text"]), COLOUR)


def test_a_regex_constrains_the_output_through_the_gateway_and_over_grpc(
    gateway: GatewayProcess, text_service: ServiceProcess
) -> None:
    raw = _json_text(["Call me at", "--regex", PHONE, "--max-tokens", "16", "--url", gateway.url])
    chat = _json_text(["Your number?", "--chat", "--regex", PHONE, "--max-tokens", "16", "--grpc", text_service.target])

    assert re.fullmatch(PHONE, raw["text"])
    assert re.fullmatch(PHONE, chat["text"])


def test_constraint_options_that_cannot_work_say_why(gateway: GatewayProcess, tmp_path: Path) -> None:
    not_json = tmp_path / "schema.json"
    not_json.write_text("{not json")
    unreadable = run_hearth(["text", "Hi", "--json-schema", str(not_json), "--url", gateway.url])
    chat_regex = run_hearth(["text", "Hi", "--chat", "--regex", "a+", "--url", gateway.url])

    assert unreadable.returncode == 2
    assert "--json-schema" in unreadable.stderr
    assert chat_regex.returncode == EXIT_REJECTED
    assert "--regex with --chat needs --grpc" in chat_regex.stderr
