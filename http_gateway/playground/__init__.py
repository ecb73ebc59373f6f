"""The offline web playground: static HTML, JS and CSS shipped inside the package, served at `/`.

No build step and no outside URL (no CDN, no web fonts, the favicon is a local file): the page works on
a machine with no internet, and talks only to the gateway's own public routes.
"""

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"
ASSETS_PATH = "/playground"


def mount_playground(app: FastAPI) -> None:
    """Serves the page at `/` and its assets under /playground/ (a mount at `/` would shadow the API)."""
    index = STATIC_DIR / "index.html"

    async def playground_page() -> FileResponse:
        return FileResponse(index, media_type="text/html")

    app.add_api_route("/", playground_page, methods=["GET"], include_in_schema=False)
    app.mount(ASSETS_PATH, StaticFiles(directory=STATIC_DIR), name="playground")
