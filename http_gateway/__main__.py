"""``python -m http_gateway``: serve the gateway with uvicorn (settings from HEARTH_GATEWAY_* or flags)."""

import uvicorn

from http_gateway.app import create_app
from http_gateway.config import GatewaySettings
from serving_core.structured_logging import configure_logging

GRACEFUL_SHUTDOWN_SECONDS = 30


def main() -> None:
    settings = GatewaySettings(_cli_parse_args=True, _cli_prog_name="python -m http_gateway")
    configure_logging(settings.log_level)
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
