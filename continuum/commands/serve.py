"""continuum serve [--host H] [--port P]"""

from __future__ import annotations

import argparse

from common.settings import Settings

HELP = "serve the read-only web app (funders, provider handoffs, operators) from the published warehouse"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to bind (default: CONTINUUM_WEB_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default: CONTINUUM_WEB_PORT, 8000)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from continuum.web.app import create_app

    host = args.host or settings.web_host
    port = args.port or settings.web_port
    print(
        f"Continuum on http://{host}:{port}/ (funders: /funders, operators: /ops; credentials: "
        "`continuum access grant`); Ctrl-C stops it",
        flush=True,
    )
    # The app alone decides whether to believe X-Forwarded-* (CONTINUUM_WEB_TRUST_PROXY), so uvicorn is
    # told not to rewrite the scheme and client address from them on its own.
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", proxy_headers=False)
    return 0
