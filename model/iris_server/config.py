"""Server settings: command-line flags, falling back to environment variables, then defaults."""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass


class ConfigError(ValueError):
    """A setting has a value the server cannot use; the message names the setting."""


@dataclass(frozen=True)
class Settings:
    model_uri: str
    host: str
    port: int
    max_rows: int
    max_body_bytes: int
    max_batch_rows: int
    model_name: str | None
    model_version: str | None
    model_run_id: str | None
    model_digest: str | None
    log_level: str
    access_log: bool
    graceful_timeout: float


def _int(name: str, raw: str, minimum: int, maximum: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ConfigError(f"{name} must be {bound}, got {value}")
    return value


def _float(name: str, raw: str, minimum: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not value >= minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {raw}")
    return value


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def parse_settings(argv: list[str] | None = None, env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ) if env is None else env
    parser = argparse.ArgumentParser(
        prog="serve.py",
        description="Serve an MLflow scikit-learn classifier over HTTP.",
        epilog="Every flag falls back to the environment variable in capitals "
        "(MODEL_URI, HOST, PORT, MAX_ROWS, ...). MLFLOW_TRACKING_URI selects the registry.",
    )
    parser.add_argument(
        "--model-uri", help="models:/name@alias, models:/name/version, runs:/..., or a local MLflow model directory"
    )
    parser.add_argument("--host", help="address to bind (default 0.0.0.0)")
    parser.add_argument("--port", help="port to listen on (default 30808)")
    parser.add_argument("--max-rows", help="rows accepted per request (default 1000)")
    parser.add_argument("--max-body-bytes", help="request body limit (default 4194304)")
    parser.add_argument("--max-batch-rows", help="rows per model call when coalescing (default 4096)")
    parser.add_argument("--model-name", help="model name label for a local directory")
    parser.add_argument("--model-version", help="model version label for a local directory")
    parser.add_argument("--model-run-id", help="MLflow run id label for a local directory")
    parser.add_argument(
        "--model-digest", help="sha256:<hex> the local directory must hash to (see iris_server.digest)"
    )
    parser.add_argument("--log-level", help="debug, info, warning or error (default info)")
    parser.add_argument("--access-log", help="log every request (default false)")
    parser.add_argument("--graceful-timeout", help="seconds to finish requests on SIGTERM (default 10)")
    args = parser.parse_args(argv)

    def pick(flag: str, var: str, default: str | None) -> str | None:
        value = getattr(args, flag)
        if value is not None:
            return value
        return env.get(var, default) if env.get(var, "") != "" else default

    model_uri = pick("model_uri", "MODEL_URI", None)
    if not model_uri:
        raise ConfigError(
            "MODEL_URI is required: models:/<name>@<alias>, models:/<name>/<version>, or a local MLflow model directory"
        )
    model_digest = pick("model_digest", "MODEL_DIGEST", None)
    if model_digest is not None and not re.fullmatch(r"sha256:[0-9a-f]{64}", model_digest):
        raise ConfigError(f"MODEL_DIGEST must be sha256:<64 lowercase hex>, got {model_digest!r}")
    log_level = (pick("log_level", "LOG_LEVEL", "info") or "info").lower()
    if log_level not in ("debug", "info", "warning", "error", "critical"):
        raise ConfigError(f"LOG_LEVEL must be debug, info, warning or error, got {log_level!r}")
    return Settings(
        model_uri=model_uri,
        host=pick("host", "HOST", "0.0.0.0") or "0.0.0.0",
        port=_int("PORT", pick("port", "PORT", "30808") or "", 0, 65535),
        max_rows=_int("MAX_ROWS", pick("max_rows", "MAX_ROWS", "1000") or "", 1),
        max_body_bytes=_int("MAX_BODY_BYTES", pick("max_body_bytes", "MAX_BODY_BYTES", "4194304") or "", 64),
        max_batch_rows=_int("MAX_BATCH_ROWS", pick("max_batch_rows", "MAX_BATCH_ROWS", "4096") or "", 1),
        model_name=pick("model_name", "MODEL_NAME", None),
        model_version=pick("model_version", "MODEL_VERSION", None),
        model_run_id=pick("model_run_id", "MODEL_RUN_ID", None),
        model_digest=model_digest,
        log_level=log_level,
        access_log=_bool("ACCESS_LOG", pick("access_log", "ACCESS_LOG", "false") or ""),
        graceful_timeout=_float("GRACEFUL_TIMEOUT", pick("graceful_timeout", "GRACEFUL_TIMEOUT", "10") or "", 0),
    )
