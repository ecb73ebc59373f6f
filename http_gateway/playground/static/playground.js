// The playground's behaviour: a health strip, a streaming text panel and an image panel with step
// progress, live previews and image edits. It talks only to the gateway that served it (relative URLs),
// through its public API.
"use strict";

const HEALTH_INTERVAL_MS = 3000;
const $ = (id) => document.getElementById(id);

function authHeaders() {
  const token = $("token").value.trim();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

function numberOrUndefined(id) {
  const raw = $(id).value.trim();
  return raw === "" ? undefined : Number(raw);
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body.error && body.error.message) return body.error.message;
    if (typeof body.detail === "string") return body.detail;
    if (Array.isArray(body.detail) && body.detail.length) return body.detail.map((d) => d.msg).join("; ");
  } catch (_) {
    // not JSON: fall through to the status line
  }
  return `HTTP ${response.status} ${response.statusText}`;
}

function showError(element, message) {
  element.textContent = message;
  element.hidden = !message;
}

// POSTs JSON and yields the response's server-sent events; a non-2xx answer throws its message.
async function* postForEvents(path, body, signal) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream", ...authHeaders() },
    body: JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw new Error(await errorMessage(response));
  yield* window.readServerSentEvents(response);
}

function streamError(data) {
  try {
    const body = JSON.parse(data);
    return new Error((body.error && body.error.message) || data);
  } catch (_) {
    return new Error(data);
  }
}

// ---- health strip ----

function describeBackend(detail) {
  if (!detail || typeof detail !== "object") return "";
  if (!detail.loaded) return detail.status ? detail.status.replace("_", " ") : "down";
  const queue = detail.active_requests == null ? "" : `${detail.active_requests} active, ${detail.queued_requests} queued`;
  return [detail.model_id, detail.device, detail.dtype, queue].filter(Boolean).join(" · ");
}

function setHealth(service, state, note) {
  const item = document.querySelector(`#health li[data-service="${service}"]`);
  item.dataset.state = state;
  item.querySelector("small").textContent = note || state;
}

async function refreshHealth() {
  try {
    const response = await fetch("/health", { headers: authHeaders() });
    const health = await response.json();
    setHealth("gateway", "up", health.device ? `device ${health.device}` : "up");
    setHealth("text", health.text_model_loaded ? "up" : "down", describeBackend(health.text));
    setHealth("image", health.image_model_loaded ? "up" : "down", describeBackend(health.image));
  } catch (_) {
    for (const service of ["gateway", "text", "image"]) setHealth(service, "down", "unreachable");
  }
}

// ---- text panel ----

let textAbort = null;

// The optional JSON Schema box, parsed here so a typo is reported before any request is sent.
function textJsonSchema() {
  const raw = $("text-json-schema").value.trim();
  if (raw === "") return undefined;
  try {
    return JSON.parse(raw);
  } catch (error) {
    throw new Error(`JSON schema: ${error.message}`);
  }
}

function textRequest() {
  const prompt = $("text-prompt").value;
  const maxTokens = numberOrUndefined("text-max-tokens");
  const temperature = numberOrUndefined("text-temperature");
  const seed = numberOrUndefined("text-seed");
  const schema = textJsonSchema();
  if ($("text-chat").checked) {
    return {
      path: "/v1/chat/completions",
      chat: true,
      body: {
        messages: [{ role: "user", content: prompt }],
        max_tokens: maxTokens,
        temperature,
        seed,
        stream: true,
        stream_options: { include_usage: true },
        response_format: schema && { type: "json_schema", json_schema: { name: "output", schema, strict: true } },
      },
    };
  }
  return {
    path: "/generate-text",
    chat: false,
    body: {
      prompt,
      max_new_tokens: maxTokens,
      temperature,
      seed,
      include_prompt: false,
      stream: true,
      json_schema: schema,
    },
  };
}

// Turns either stream dialect into {text} deltas and one final {done, finishReason, usage}.
async function* textDeltas(request, signal) {
  for await (const event of postForEvents(request.path, request.body, signal)) {
    if (event.event === "error") throw streamError(event.data);
    if (request.chat) {
      if (event.data === "[DONE]") return;
      const chunk = JSON.parse(event.data);
      if (chunk.error) throw streamError(event.data);
      for (const choice of chunk.choices || []) {
        if (choice.delta && choice.delta.content) yield { text: choice.delta.content };
        if (choice.finish_reason) yield { done: true, finishReason: choice.finish_reason };
      }
      if (chunk.usage) yield { done: true, usage: chunk.usage };
    } else if (event.event === "token") {
      yield { text: JSON.parse(event.data).text };
    } else if (event.event === "done") {
      const done = JSON.parse(event.data);
      yield { done: true, finishReason: done.finish_reason, usage: done.usage };
      return;
    }
  }
}

function setTextRunning(running) {
  $("text-generate").disabled = running;
  $("text-stop").disabled = !running;
  $("text-panel").dataset.state = running ? "streaming" : "idle";
}

async function generateText(submit) {
  submit.preventDefault();
  const output = $("text-output");
  output.textContent = "";
  showError($("text-error"), "");
  $("text-stats").textContent = "";
  textAbort = new AbortController();
  setTextRunning(true);
  const started = performance.now();
  let finishReason = "";
  let usage = null;
  let deltas = 0;
  try {
    for await (const delta of textDeltas(textRequest(), textAbort.signal)) {
      if (delta.text) {
        output.textContent += delta.text;
        deltas += 1;
      }
      if (delta.finishReason) finishReason = delta.finishReason;
      if (delta.usage) usage = delta.usage;
    }
    const seconds = (performance.now() - started) / 1000;
    const tokens = usage ? usage.completion_tokens : deltas;
    $("text-stats").textContent =
      `${finishReason || "done"} · ${tokens} tokens · ${seconds.toFixed(1)} s · ${(tokens / seconds).toFixed(1)} tokens/s`;
  } catch (error) {
    if (error.name === "AbortError") $("text-stats").textContent = "stopped";
    else showError($("text-error"), error.message);
  } finally {
    textAbort = null;
    setTextRunning(false);
  }
}

// ---- image panel ----

let imageAbort = null;

function imageRequest() {
  return {
    prompt: $("image-prompt").value,
    negative_prompt: $("image-negative").value || undefined,
    num_inference_steps: numberOrUndefined("image-steps"),
    width: numberOrUndefined("image-width") ?? null, // null: the model's native size
    height: numberOrUndefined("image-height") ?? null,
    guidance_scale: numberOrUndefined("image-guidance"),
    seed: numberOrUndefined("image-seed"),
    num_images: numberOrUndefined("image-count"),
    stream: true,
    preview_every: $("image-preview").checked ? 1 : 0,
    ...editFields(),
  };
}

function setImageRunning(running) {
  $("image-generate").disabled = running;
  $("image-stop").disabled = !running;
  $("image-panel").dataset.state = running ? "streaming" : "idle";
}

function showProgress(step, total, elapsed) {
  const bar = $("image-progress");
  bar.max = total;
  bar.value = step;
  $("image-progress-label").textContent = `step ${step} / ${total} · ${elapsed.toFixed(1)} s`;
}

function showImage(image, request, seconds) {
  const figure = document.createElement("figure");
  const picture = document.createElement("img");
  picture.src = `data:${image.mime_type || "image/png"};base64,${image.image_base64}`;
  picture.alt = request.prompt;
  const caption = document.createElement("figcaption");
  const params = [
    ["prompt", request.prompt],
    ["negative", request.negative_prompt],
    ["steps", request.num_inference_steps],
    ["size", request.width && request.height ? `${request.width}x${request.height}` : "auto"],
    ["guidance", request.guidance_scale],
    ["seed", image.seed],
    ["time", `${seconds.toFixed(1)} s`],
  ];
  const list = document.createElement("dl");
  for (const [name, value] of params) {
    if (value === undefined || value === "") continue;
    const term = document.createElement("dt");
    term.textContent = name;
    const detail = document.createElement("dd");
    detail.textContent = String(value);
    if (name === "size") {
      picture.addEventListener("load", () => {
        detail.textContent = `${picture.naturalWidth}x${picture.naturalHeight}`;
      });
    }
    list.append(term, detail);
  }
  caption.append(list);
  figure.append(picture, caption);
  $("image-results").append(figure);
}

async function generateImage(submit) {
  submit.preventDefault();
  showError($("image-error"), "");
  $("image-results").textContent = "";
  showProgress(0, 1, 0);
  $("image-progress-label").textContent = "waiting";
  $("image-preview-img").hidden = true;
  imageAbort = new AbortController();
  setImageRunning(true);
  const request = imageRequest();
  const started = performance.now();
  try {
    for await (const event of postForEvents("/generate-image", request, imageAbort.signal)) {
      const body = event.data ? JSON.parse(event.data) : {};
      if (event.event === "progress") {
        showProgress(body.step, body.total_steps, body.elapsed_seconds || 0);
        showPreview(body);
      }
      else if (event.event === "image") showImage(body, request, (performance.now() - started) / 1000);
      else if (event.event === "error") throw streamError(event.data);
      else if (event.event === "done") break;
    }
    $("image-progress-label").textContent += " · done";
  } catch (error) {
    if (error.name === "AbortError") $("image-progress-label").textContent = "stopped";
    else showError($("image-error"), error.message);
  } finally {
    imageAbort = null;
    setImageRunning(false);
  }
}

// ---- image edits (an input image, a painted or uploaded mask) and live previews ----

const MASK_BRUSH = 0.08; // brush radius, as a fraction of the input's shorter side
const edit = { dataUrl: "", masked: false, painting: false };

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function loadPicture(dataUrl) {
  return new Promise((resolve, reject) => {
    const picture = new Image();
    picture.onload = () => resolve(picture);
    picture.onerror = () => reject(new Error("the browser cannot read this image"));
    picture.src = dataUrl;
  });
}

// The input is sent as the file's own bytes; width and height follow it (rounded down to a multiple of 8).
async function chooseInput() {
  const file = $("image-init").files[0];
  if (!file) return;
  try {
    edit.dataUrl = await readAsDataUrl(file);
    const picture = await loadPicture(edit.dataUrl);
    for (const canvas of [$("image-init-canvas"), $("image-mask-canvas")]) {
      canvas.width = picture.naturalWidth;
      canvas.height = picture.naturalHeight;
    }
    $("image-init-canvas").getContext("2d").drawImage(picture, 0, 0);
    clearMask();
    $("image-width").value = Math.floor(picture.naturalWidth / 8) * 8;
    $("image-height").value = Math.floor(picture.naturalHeight / 8) * 8;
    $("image-edit-canvas").hidden = false;
  } catch (error) {
    showError($("image-error"), error.message);
  }
}

function removeInput() {
  edit.dataUrl = "";
  $("image-init").value = "";
  clearMask();
  $("image-edit-canvas").hidden = true;
}

function clearMask() {
  const canvas = $("image-mask-canvas");
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  $("image-mask").value = "";
  edit.masked = false;
}

// An uploaded mask is drawn onto the mask layer, so it can be painted over before it is sent.
async function chooseMask() {
  const file = $("image-mask").files[0];
  if (!file || !edit.dataUrl) return;
  const canvas = $("image-mask-canvas");
  const picture = await loadPicture(await readAsDataUrl(file));
  canvas.getContext("2d").drawImage(picture, 0, 0, canvas.width, canvas.height);
  edit.masked = true;
}

function paintMask(pointer) {
  if (!edit.painting || !edit.dataUrl) return;
  const canvas = $("image-mask-canvas");
  const context = canvas.getContext("2d");
  const x = (pointer.offsetX / canvas.clientWidth) * canvas.width;
  const y = (pointer.offsetY / canvas.clientHeight) * canvas.height;
  context.fillStyle = "white";
  context.beginPath();
  context.arc(x, y, Math.max(2, Math.min(canvas.width, canvas.height) * MASK_BRUSH), 0, 2 * Math.PI);
  context.fill();
  edit.masked = true;
}

// The mask as the service reads it: an opaque PNG, white where painted, black elsewhere.
function maskDataUrl() {
  const layer = $("image-mask-canvas");
  const mask = document.createElement("canvas");
  mask.width = layer.width;
  mask.height = layer.height;
  const context = mask.getContext("2d");
  context.fillStyle = "black";
  context.fillRect(0, 0, mask.width, mask.height);
  context.drawImage(layer, 0, 0);
  return mask.toDataURL("image/png");
}

function editFields() {
  if (!edit.dataUrl) return {};
  return {
    init_image_base64: edit.dataUrl,
    mask_base64: edit.masked ? maskDataUrl() : undefined,
    strength: numberOrUndefined("image-strength"),
  };
}

function showPreview(progress) {
  if (!progress.preview_base64) return;
  const preview = $("image-preview-img");
  preview.src = `data:${progress.preview_mime_type || "image/jpeg"};base64,${progress.preview_base64}`;
  preview.hidden = false;
}

function wireImageEdits() {
  $("image-init").addEventListener("change", chooseInput);
  $("image-init-clear").addEventListener("click", removeInput);
  $("image-mask").addEventListener("change", chooseMask);
  $("image-mask-clear").addEventListener("click", clearMask);
  const layer = $("image-mask-canvas");
  layer.addEventListener("pointerdown", (pointer) => {
    edit.painting = true;
    layer.setPointerCapture(pointer.pointerId);
    paintMask(pointer);
  });
  layer.addEventListener("pointermove", paintMask);
  layer.addEventListener("pointerup", () => {
    edit.painting = false;
  });
}

// ---- wiring ----

document.addEventListener("DOMContentLoaded", () => {
  $("token").value = localStorage.getItem("hearth-token") || "";
  $("token").addEventListener("change", () => localStorage.setItem("hearth-token", $("token").value.trim()));
  $("token-form").addEventListener("submit", (submit) => submit.preventDefault());
  $("text-form").addEventListener("submit", generateText);
  $("text-stop").addEventListener("click", () => textAbort && textAbort.abort());
  $("image-form").addEventListener("submit", generateImage);
  $("image-stop").addEventListener("click", () => imageAbort && imageAbort.abort());
  wireImageEdits();
  refreshHealth();
  setInterval(refreshHealth, HEALTH_INTERVAL_MS);
});
