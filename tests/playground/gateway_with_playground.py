"""`python -m tests.playground.gateway_with_playground`: the real gateway app, with the playground mounted.

Interim: `http_gateway.app.create_app` does not call `mount_playground` yet, so the browser tests serve
the same app with the playground added here. Once create_app mounts it, this module adds nothing and
the tests can switch to the session `gateway` fixture.
"""

import uvicorn

from http_gateway.app import create_app
from http_gateway.config import GatewaySettings
from http_gateway.playground import mount_playground


def main() -> None:
    settings = GatewaySettings()
    app = create_app(settings)
    if not any(getattr(route, "path", None) == "/" for route in app.routes):
        mount_playground(app)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
