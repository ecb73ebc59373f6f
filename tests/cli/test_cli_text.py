"""`hearth text` against the real stack: streamed output, --json, stdin, --chat, and the gRPC path."""

import json

from tests.cli.hearth_processes import run_hearth
from tests.http_gateway.gateway_process import GatewayProcess
from tests.service_processes import ServiceProcess

PROMPT = "The three primary colours are"
GREEDY = ["--max-tokens", "8", "--temperature", "0"]


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
