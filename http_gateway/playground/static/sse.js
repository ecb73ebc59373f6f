// Server-Sent Events over fetch: EventSource cannot POST a JSON body, so the playground reads the
// response stream itself. Framing follows the SSE spec: events end at a blank line, "event:" names
// the event, "data:" lines are joined with newlines, lines starting with ":" are comments.
"use strict";

async function* readServerSentEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { event: "message", data: [] };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop();
      for (const line of lines) {
        if (line === "") {
          if (event.data.length) yield { event: event.event, data: event.data.join("\n") };
          event = { event: "message", data: [] };
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let text = colon === -1 ? "" : line.slice(colon + 1);
        if (text.startsWith(" ")) text = text.slice(1);
        if (field === "event") event.event = text;
        else if (field === "data") event.data.push(text);
      }
    }
  } finally {
    // Leaving early (Stop, an error) closes the connection, which is what makes the server cancel.
    reader.cancel().catch(() => {});
  }
}

window.readServerSentEvents = readServerSentEvents;
