"""Operating the gateway: metrics, offline docs, auth, CORS, request ids, and no torch in its process."""

import re
import subprocess
import sys
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from urllib.parse import urljoin, urlparse

import httpx
import pytest

from tests.conftest import REPO_ROOT
from tests.http_gateway.fake_backends import MAX_IMAGES, MAX_NEW_TOKENS, MAX_SIDE, MAX_STEPS, MIN_SIDE, FakeBackend
from tests.http_gateway.in_process_gateway import InProcessGateway, fake_settings
from tests.http_gateway.prometheus_text import metric_value


async def test_metrics_move_after_requests(client: httpx.AsyncClient) -> None:
    before = (await client.get("/metrics")).text
    await client.post("/generate-text", json={"prompt": "p", "max_new_tokens": 5, "stream": True})
    await client.post("/generate-text", json={"prompt": "fail:UNAVAILABLE"})
    await client.post("/generate-image", json={"prompt": "p", "num_images": 2})
    after = (await client.get("/metrics")).text
    route = {"route": "/generate-text"}
    assert metric_value(after, "hearth_gateway_requests_total", **route, status="200") == (
        metric_value(before, "hearth_gateway_requests_total", **route, status="200") + 1
    )
    assert metric_value(after, "hearth_gateway_tokens_total", **route, kind="completion") == (
        metric_value(before, "hearth_gateway_tokens_total", **route, kind="completion") + 5
    )
    assert metric_value(after, "hearth_gateway_time_to_first_token_seconds_count", **route) > metric_value(
        before, "hearth_gateway_time_to_first_token_seconds_count", **route
    )
    errors = {**route, "backend": "text", "code": "unavailable"}
    assert metric_value(after, "hearth_gateway_errors_total", **errors) == (
        metric_value(before, "hearth_gateway_errors_total", **errors) + 1
    )
    assert metric_value(after, "hearth_gateway_images_total", route="/generate-image") == (
        metric_value(before, "hearth_gateway_images_total", route="/generate-image") + 2
    )
    assert metric_value(after, "hearth_gateway_backend_up", backend="image") == 1
    assert "hearth_gateway_backend_queued_requests" in after


class _AssetLinks(HTMLParser):
    """Every URL a page makes the browser fetch: scripts, stylesheets, icons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and name in {"src", "href"} and tag in {"script", "link", "img"}:
                self.urls.append(value)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_use_only_assets_the_gateway_serves(client: httpx.AsyncClient, page: str) -> None:
    html = await client.get(page)
    assert html.status_code == 200
    assert re.search(r"https?://", html.text) is None, "the page names an outside host"
    links = _AssetLinks()
    links.feed(html.text)
    assert len(links.urls) >= 2
    for url in links.urls:
        assert not urlparse(url).netloc, url
        asset = await client.get(urljoin(str(html.url), url))
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
    spec = await client.get("/openapi.json")
    assert "/generate-text" in spec.json()["paths"]


async def test_schema_carries_the_limits_the_backends_report(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    assert schemas["TextRequest"]["properties"]["max_new_tokens"]["maximum"] == MAX_NEW_TOKENS
    chat_tokens = schemas["ChatCompletionRequest"]["properties"]["max_completion_tokens"]["anyOf"][0]
    assert chat_tokens["maximum"] == MAX_NEW_TOKENS
    width = schemas["ImageRequest"]["properties"]["width"]["anyOf"][0]
    assert (width["minimum"], width["maximum"], width["multipleOf"]) == (MIN_SIDE, MAX_SIDE, 8)
    assert schemas["ImageGenerationRequest"]["properties"]["n"]["maximum"] == MAX_IMAGES
    assert schemas["ImageRequest"]["properties"]["num_inference_steps"]["maximum"] == MAX_STEPS


@pytest.fixture(scope="module")
async def guarded_gateway(fake_text: FakeBackend, fake_image: FakeBackend) -> AsyncIterator[InProcessGateway]:
    settings = fake_settings(
        fake_text.target, fake_image.target, api_key="s3cret", cors_origins=["http://playground.test"]
    )
    gateway = await InProcessGateway(settings).start()
    yield gateway
    await gateway.stop()


async def test_bearer_auth_guards_api_routes_but_not_health(guarded_gateway: InProcessGateway) -> None:
    async with httpx.AsyncClient(base_url=guarded_gateway.url) as client:
        refused = await client.post("/generate-text", json={"prompt": "p", "max_new_tokens": 1})
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["error"]["type"] == "authentication_error"
        wrong = await client.get("/v1/models", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        allowed = await client.get("/v1/models", headers={"authorization": "Bearer s3cret"})
        assert allowed.status_code == 200
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/docs")).status_code == 200
        spec = (await client.get("/openapi.json")).json()
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


async def test_cors_allows_the_configured_origin_only(guarded_gateway: InProcessGateway) -> None:
    preflight = {"access-control-request-method": "POST", "access-control-request-headers": "authorization"}
    async with httpx.AsyncClient(base_url=guarded_gateway.url) as client:
        allowed = await client.options("/generate-text", headers={"origin": "http://playground.test", **preflight})
        assert allowed.headers["access-control-allow-origin"] == "http://playground.test"
        other = await client.options("/generate-text", headers={"origin": "http://evil.test", **preflight})
        assert "access-control-allow-origin" not in other.headers


async def test_request_id_reaches_the_backend(client: httpx.AsyncClient, fake_text: FakeBackend) -> None:
    response = await client.post(
        "/generate-text", json={"prompt": "p", "max_new_tokens": 1}, headers={"x-request-id": "abc-1"}
    )
    assert response.headers["x-request-id"] == "abc-1"
    assert response.json()["request_id"] == "abc-1"
    assert fake_text.log.requests[-1].request_id == "abc-1"
    generated = await client.get("/health", headers={"x-request-id": "not allowed!"})
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])


def test_gateway_imports_no_torch_or_model_libraries() -> None:
    probe = (
        "import sys, http_gateway.app, http_gateway.__main__; "
        "loaded = [m for m in ('torch', 'transformers', 'diffusers') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
