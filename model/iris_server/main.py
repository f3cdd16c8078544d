"""Process lifecycle: settings, listening at once, loading the model beside, clean exits.

Exit codes: 0 after a graceful shutdown (SIGTERM/SIGINT), 1 when the model cannot be loaded,
2 for invalid settings, 3 when the address cannot be bound (uvicorn's start-up failure).
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
import time

import uvicorn

from .app import App
from .config import ConfigError, parse_settings
from .loader import Labels, ModelLoadError, load_model
from .metrics import Metrics

log = logging.getLogger("iris_server")


def _loop_and_http() -> tuple[str, str]:
    # The C event loop and parser roughly double requests per second; fall back if absent.
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    try:
        import httptools  # noqa: F401

        http = "httptools"
    except ImportError:
        http = "h11"
    return loop, http


def main(argv: list[str] | None = None) -> int:
    try:
        settings = parse_settings(argv)
    except ConfigError as err:
        print(f"serve.py: error: {err}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    metrics = Metrics()
    app = App(settings, metrics)
    loop, http = _loop_and_http()
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop=loop,
        http=http,
        lifespan="off",
        access_log=settings.access_log,
        log_config=None,
        log_level=settings.log_level,
        server_header=False,
        # Client addresses are never used; skip rewriting them from X-Forwarded-* on every request.
        proxy_headers=False,
        timeout_graceful_shutdown=settings.graceful_timeout,
        backlog=4096,
    )
    server = uvicorn.Server(config)

    def load() -> None:
        started = time.perf_counter()
        log.info("loading model %s", settings.model_uri)
        try:
            labels = Labels(settings.model_name, settings.model_version, settings.model_run_id, settings.model_digest)
            model = load_model(settings.model_uri, labels)
        except ModelLoadError as err:
            app.load_error = f"could not load model {settings.model_uri}: {err}"
            log.error("%s", app.load_error)
            server.should_exit = True
            return
        # MLflow leaves ~200k long-lived objects behind, and a full collection walks them all:
        # a 0.1-0.5 s pause in the middle of serving, straight into p99. Collect once now, before
        # reporting ready, and move the survivors out of the collector's reach.
        gc.collect()
        gc.freeze()
        seconds = time.perf_counter() - started
        metrics.model_loaded(model, seconds)
        app.set_model(model)
        log.info(
            "serving %s version %s (run %s, %s, %s flavor, %s, features %s) loaded in %.1fs",
            model.name,
            model.version,
            model.run_id or "-",
            model.digest,
            model.flavor,
            model.predictor,
            model.features.describe(),
            seconds,
        )

    # uvicorn re-raises the signal that stopped it once shutdown is complete, so that the
    # default action (death by signal) follows; a no-op handler turns that into a clean exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)

    threading.Thread(target=load, name="model-loader", daemon=True).start()
    server.run()
    if app.load_error is not None:
        return 1
    if not server.started:
        log.error("the server did not start (is port %s free?)", settings.port)
        return 1
    log.info("shut down cleanly")
    return 0
