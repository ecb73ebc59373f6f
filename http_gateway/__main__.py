"""``python -m http_gateway``: serve the gateway with uvicorn (settings from HEARTH_GATEWAY_* or flags)."""

import signal
from types import FrameType

import uvicorn
from sse_starlette.sse import AppStatus

from http_gateway.app import create_app
from http_gateway.config import GatewaySettings
from serving_core.structured_logging import configure_logging

GRACEFUL_SHUTDOWN_SECONDS = 30


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    """uvicorn re-raises the stop signal once it has drained; ending with 0 tells supervisors all went well."""
    raise SystemExit(0)


def main() -> None:
    """Serves until SIGTERM/SIGINT, then lets in-flight requests, streams included, finish (30 s at most).

    sse-starlette would otherwise end every open stream the moment uvicorn starts shutting down.
    """
    settings = GatewaySettings(_cli_parse_args=True, _cli_prog_name="python -m http_gateway")
    configure_logging(settings.log_level)
    AppStatus.disable_automatic_graceful_drain()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _exit_cleanly)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


if __name__ == "__main__":
    main()
