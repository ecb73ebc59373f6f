"""The playground in headless chromium against the real stack, with all outside network blocked."""

import base64
import io
import json
from pathlib import Path

import jsonschema
import numpy as np
from PIL import Image
from playwright.sync_api import Page, expect

from tests.cli.hearth_processes import text_stats, wait_for_stats
from tests.image_service.image_client import encoded, input_image, pixels
from tests.playground.conftest import Playground
from tests.service_processes import ServiceProcess

COUNTING = "1, 2, 3, 4, 5, 6, 7, 8,"
COLOUR = {"type": "object", "properties": {"colour": {"enum": ["red", "green", "blue"]}}, "required": ["colour"]}
# Generous: on a busy 2-core machine a short reply can take a minute; this only guards against a hang.
LONG_MS = 300_000


def fill_text_form(page: Page, prompt: str, max_tokens: int, *, chat: bool) -> None:
    """A greedy request, so what the page shows does not depend on luck."""
    page.set_checked("#text-chat", chat)
    page.fill("#text-prompt", prompt)
    page.fill("#text-max-tokens", str(max_tokens))
    page.fill("#text-temperature", "0")


def test_health_strip_shows_both_backends_with_their_models(playground: Playground) -> None:
    page = playground.page

    for service in ("gateway", "text", "image"):
        expect(page.locator(f'#health li[data-service="{service}"]')).to_have_attribute("data-state", "up")
    expect(page.locator('#health li[data-service="text"] small')).to_contain_text("SmolLM2")
    assert playground.outside_requests == []


def test_text_reply_streams_in_token_by_token(playground: Playground) -> None:
    page = playground.page
    fill_text_form(page, "Write one sentence about a warm fire.", 20, chat=True)

    page.click("#text-generate")
    page.wait_for_function(
        "document.querySelector('#text-panel').dataset.state === 'streaming'"
        " && document.querySelector('#text-output').textContent.length > 0",
        timeout=LONG_MS,
    )
    partial = page.text_content("#text-output") or ""
    playground.screenshot("text-streaming")
    expect(page.locator("#text-panel")).to_have_attribute("data-state", "idle", timeout=LONG_MS)
    playground.screenshot("text-done")

    final = page.text_content("#text-output") or ""
    assert final.startswith(partial)
    assert len(final) > len(partial)
    expect(page.locator("#text-stats")).to_contain_text("tokens/s")
    expect(page.locator("#text-error")).to_be_hidden()
    assert playground.outside_requests == []


def test_raw_prompt_mode_uses_the_original_route(playground: Playground) -> None:
    page = playground.page
    fill_text_form(page, COUNTING, 6, chat=False)

    with page.expect_response(lambda response: response.url.endswith("/generate-text")) as response:
        page.click("#text-generate")
    expect(page.locator("#text-stats")).to_contain_text("length", timeout=LONG_MS)

    assert response.value.status == 200
    assert (page.text_content("#text-output") or "").strip()
    assert playground.outside_requests == []


def test_a_json_schema_makes_the_reply_valid_json(playground: Playground) -> None:
    page = playground.page
    fill_text_form(page, "Pick a colour.", 40, chat=True)
    page.click("#text-structured summary")
    page.fill("#text-json-schema", '{"type": "object",')

    page.click("#text-generate")
    expect(page.locator("#text-error")).to_contain_text("JSON schema")
    page.fill("#text-json-schema", json.dumps(COLOUR))
    page.click("#text-generate")
    expect(page.locator("#text-stats")).to_contain_text("tokens/s", timeout=LONG_MS)
    playground.screenshot("text-json-schema")

    expect(page.locator("#text-error")).to_be_hidden()
    jsonschema.validate(json.loads(page.text_content("#text-output") or ""), COLOUR)
    assert playground.outside_requests == []


def test_image_shows_step_progress_then_the_picture_with_its_parameters(playground: Playground) -> None:
    page = playground.page
    page.fill("#image-prompt", "a lantern in the snow")
    page.fill("#image-steps", "40")
    page.fill("#image-seed", "11")

    page.click("#image-generate")
    page.wait_for_function(
        "(() => { const bar = document.querySelector('#image-progress');"
        " return bar.value > 0 && bar.value < bar.max; })()",
        timeout=LONG_MS,
    )
    expect(page.locator("#image-progress-label")).to_contain_text("/ 40")
    playground.screenshot("image-progress")
    expect(page.locator("#image-results img")).to_be_visible(timeout=LONG_MS)
    playground.screenshot("image-done")

    expect(page.locator("#image-progress-label")).to_contain_text("step 40 / 40")
    caption = page.locator("#image-results figcaption")
    for expected in ("a lantern in the snow", "40", "512x512", "11"):
        expect(caption).to_contain_text(expected)
    assert page.eval_on_selector("#image-results img", "img => img.naturalWidth") == 512
    assert playground.outside_requests == []


def test_a_refused_size_shows_the_servers_message(playground: Playground) -> None:
    page = playground.page
    page.fill("#image-prompt", "a fox")
    page.fill("#image-width", "100")

    page.click("#image-generate")

    expect(page.locator("#image-error")).to_contain_text("width", timeout=60_000)
    expect(page.locator("#image-results img")).to_have_count(0)
    assert playground.outside_requests == []


def test_stop_ends_the_stream_and_frees_the_server(playground: Playground, text_service: ServiceProcess) -> None:
    page = playground.page
    max_tokens = 1000
    before = text_stats(text_service.target)
    fill_text_form(page, COUNTING, max_tokens, chat=False)

    page.click("#text-generate")
    page.wait_for_function("document.querySelector('#text-output').textContent.trim().length > 6", timeout=LONG_MS)
    page.click("#text-stop")
    expect(page.locator("#text-stats")).to_have_text("stopped")
    playground.screenshot("text-stopped")
    after = wait_for_stats(
        lambda: text_stats(text_service.target),
        lambda stats: stats.finished_requests > before.finished_requests and stats.active_requests == 0,
    )

    expect(page.locator("#text-generate")).to_be_enabled()
    expect(page.locator("#text-stop")).to_be_disabled()
    assert after.active_requests == 0
    assert after.generated_tokens - before.generated_tokens < max_tokens
    assert playground.outside_requests == []


def data_url_bytes(url: str | None) -> bytes:
    assert url is not None
    assert url.startswith("data:image/"), url
    return base64.b64decode(url.split(",", 1)[1])


def test_an_uploaded_image_is_inpainted_with_a_painted_mask_and_a_live_preview(
    playground: Playground, tmp_path: Path
) -> None:
    page = playground.page
    source = tmp_path / "input.png"
    source.write_bytes(encoded(input_image(96, 64, seed=8)))
    page.fill("#image-prompt", "a green triangle")
    page.fill("#image-steps", "6")
    page.fill("#image-seed", "4")
    page.click("#image-edit summary")

    page.set_input_files("#image-init", str(source))
    expect(page.locator("#image-edit-canvas")).to_be_visible()
    expect(page.locator("#image-width")).to_have_value("96")
    box = page.locator("#image-mask-canvas").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.15, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5, steps=5)
    page.mouse.up()
    page.fill("#image-strength", "1")
    with page.expect_request(lambda request: request.url.endswith("/generate-image")) as sent:
        page.click("#image-generate")
    expect(page.locator("#image-preview-img")).to_be_visible(timeout=LONG_MS)
    playground.screenshot("image-edit-preview")
    expect(page.locator("#image-results img")).to_be_visible(timeout=LONG_MS)
    playground.screenshot("image-edit-done")

    body = sent.value.post_data_json
    assert data_url_bytes(body["init_image_base64"]) == source.read_bytes()
    mask = np.asarray(Image.open(io.BytesIO(data_url_bytes(body["mask_base64"]))).convert("L"))
    assert mask[:, :40].max() == 255
    assert mask[:, 48:].max() == 0
    preview = Image.open(io.BytesIO(data_url_bytes(page.get_attribute("#image-preview-img", "src"))))
    assert preview.size == (12, 8)
    result = pixels(data_url_bytes(page.get_attribute("#image-results img", "src")))
    assert result.shape == (64, 96, 3)
    assert np.abs(result[:, 48:] - pixels(source.read_bytes())[:, 48:]).max() <= 1
    expect(page.locator("#image-error")).to_be_hidden()
    assert playground.outside_requests == []
