"""Schemathesis fuzzes the gateway's OpenAPI schema: no 5xx, and every response matches the schema."""

import json
from pathlib import Path

import httpx

from tests.http_gateway.gateway_process import GatewayProcess
from tests.http_gateway.in_process_gateway import InProcessGateway
from tests.http_gateway.openapi_fuzz import run_schemathesis, with_small_limits


async def test_fuzz_over_fake_backends(fake_gateway: InProcessGateway, tmp_path: Path) -> None:
    """Cheap because the backends are fakes: every mode and phase on the published schema, then valid data
    on the shrunk schema, where most cases succeed, so every streamed event is checked against its schema."""
    async with httpx.AsyncClient(base_url=fake_gateway.url) as client:
        schema = (await client.get("/openapi.json")).json()
    published, shrunk = tmp_path / "published" / "openapi.json", tmp_path / "shrunk" / "openapi.json"
    for path, content in ((published, schema), (shrunk, with_small_limits(schema))):
        path.parent.mkdir()
        path.write_text(json.dumps(content))
    code, output = await run_schemathesis(published, fake_gateway.url, "--max-examples", "30")
    assert code == 0, output
    code, output = await run_schemathesis(shrunk, fake_gateway.url, "--mode", "positive", "--max-examples", "40")
    assert code == 0, output


async def test_fuzz_over_the_real_services(gateway: GatewayProcess, tmp_path: Path) -> None:
    """Valid data only, small limits and few examples: each case costs real CPU time on the models."""
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        schema = (await client.get("/openapi.json")).json()
    schema_file = tmp_path / "openapi.json"
    schema_file.write_text(json.dumps(with_small_limits(schema)))
    code, output = await run_schemathesis(
        schema_file, gateway.url, "--mode", "positive", "--phases", "fuzzing", "--max-examples", "6"
    )
    assert code == 0, output
