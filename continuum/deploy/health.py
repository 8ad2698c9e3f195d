"""Healthchecks for the compose services, run inside their containers:

    python -m continuum.deploy.health kafka        # this service's Kafka principal can reach the broker
    python -m continuum.deploy.health http URL     # an HTTP endpoint answers below 500

Exit 0 when healthy, 1 otherwise, with one line saying why (Docker keeps it in `docker inspect`).
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request


def check_kafka() -> str:
    from kafka import KafkaAdminClient

    from common.settings import get_settings
    from streams.kafka import client_config

    admin = KafkaAdminClient(
        **client_config(get_settings(), client_id="continuum-health", request_timeout_ms=5000)
    )
    try:
        return f"kafka answers; {len(admin.list_topics())} topics visible to this principal"
    finally:
        admin.close()


def check_http(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return f"{url} answered {response.status}"
    except urllib.error.HTTPError as exc:  # a 401/403/404 still proves the server is serving
        if exc.code >= 500:
            raise
        return f"{url} answered {exc.code}"


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["kafka"]:
            print(check_kafka())
        elif argv[:1] == ["http"] and len(argv) == 2:
            print(check_http(argv[1]))
        else:
            print("usage: python -m continuum.deploy.health kafka | http URL", file=sys.stderr)
            return 2
    except Exception as exc:  # any failure is "unhealthy"; say which
        print(f"unhealthy: {type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
