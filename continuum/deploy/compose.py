"""Read docker-compose.yml as Docker Compose would: YAML with anchors and merge keys, then `${VAR}`
interpolation from .env. Used by the deployment tests to check the file against the code, and to run
its Airflow set-up outside Docker with the very environment the services get."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from common.settings import PROJECT_ROOT

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
ENV_EXAMPLE = PROJECT_ROOT / "infra" / ".env.example"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}; $$ is a literal $.
_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class InterpolationError(ValueError):
    """A `${VAR:?...}` variable is unset, as `docker compose` would refuse."""


def load_raw(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    """The file as YAML (anchors and `<<` merges resolved), before interpolation."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def read_env_file(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    env = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def variables_used(node: Any) -> set[str]:
    """Every variable name the file interpolates."""
    if isinstance(node, dict):
        return set().union(*(variables_used(k) | variables_used(v) for k, v in node.items()))
    if isinstance(node, list):
        return set().union(*(variables_used(v) for v in node))
    if isinstance(node, str):
        return {m.group("name") for m in _VARIABLE.finditer(node) if m.group("name")}
    return set()


def interpolate(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {interpolate(k, env): interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    if isinstance(node, str):
        return _VARIABLE.sub(lambda m: _substitute(m, env), node)
    return node


def _substitute(match: re.Match[str], env: dict[str, str]) -> str:
    name, op, arg = match.group("name"), match.group("op"), match.group("arg")
    if name is None:
        return "$"
    value = env.get(name)
    unset = value is None or (op is not None and op.startswith(":") and value == "")
    if op in (":-", "-") and unset:
        return arg or ""
    if op in (":?", "?") and unset:
        raise InterpolationError(f"{name}: {arg}")
    return value or ""


def load(env: dict[str, str], path: Path = COMPOSE_FILE) -> dict[str, Any]:
    """The file as `docker compose config` would see it with this .env (without its normalisation)."""
    return interpolate(load_raw(path), env)


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping (compose allows a mapping or a list of KEY=VALUE)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def command(service: dict[str, Any]) -> list[str]:
    value = service.get("command") or []
    return value.split() if isinstance(value, str) else [str(v) for v in value]
