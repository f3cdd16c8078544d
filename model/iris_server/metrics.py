"""Prometheus metrics. Label children are cached so a request costs dict look-ups, not
prometheus_client's label validation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

if TYPE_CHECKING:
    from .loader import LoadedModel

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
# The classic text format: every name here is a legacy name, and every Prometheus (2.x included,
# as Debian ships) negotiates it; 1.0.0 only adds UTF-8 names.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# The *_created series double the exposition for no use in alerting or dashboards.
disable_created_metrics()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        r = self.registry
        self.requests = Counter(
            "iris_requests", "HTTP requests by route and status code.", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "iris_request_duration_seconds",
            "Time from the request reaching the application to its response, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter("iris_predictions", "Predicted rows by predicted class.", ["class"], registry=r)
        self.input_errors = Counter(
            "iris_input_errors", "Requests rejected for their input, by reason.", ["reason"], registry=r
        )
        self.batch_rows = Histogram(
            "iris_batch_rows", "Rows per model call (requests are coalesced).", buckets=BATCH_BUCKETS, registry=r
        )
        self.info = Gauge(
            "iris_model_info",
            "The model being served (value 1); digest is the sha256 over its files, as the image label says.",
            ["name", "version", "run_id", "digest", "flavor"],
            registry=r,
        )
        self.ready = Gauge("iris_model_ready", "1 once the model is loaded and serving.", registry=r)
        self.load_seconds = Gauge("iris_model_load_duration_seconds", "Time taken to load the model.", registry=r)
        self._req: dict[tuple[str, int], Any] = {}
        self._lat: dict[str, Any] = {}
        self._cls: dict[Any, Any] = {}

    def observe(self, route: str, status: int, seconds: float) -> None:
        key = (route, status)
        child = self._req.get(key)
        if child is None:
            child = self._req[key] = self.requests.labels(route, str(status))
        child.inc()
        hist = self._lat.get(route)
        if hist is None:
            hist = self._lat[route] = self.latency.labels(route)
        hist.observe(seconds)

    def count_predictions(self, values: list[Any]) -> None:
        if len(values) == 1:
            counts = {values[0]: 1}
        else:
            counts = {}
            for v in values:
                counts[v] = counts.get(v, 0) + 1
        for value, n in counts.items():
            child = self._cls.get(value)
            if child is None:
                child = self._cls[value] = self.predictions.labels(_label(value))
            child.inc(n)

    def model_loaded(self, model: LoadedModel, seconds: float) -> None:
        self.info.labels(model.name, model.version, model.run_id, model.digest, model.flavor).set(1)
        self.load_seconds.set(seconds)
        for value in model.classes:
            # Every class has a series from the start, so rate() and ratios see zeros, not gaps.
            key = value.item() if hasattr(value, "item") else value
            if key not in self._cls:
                self._cls[key] = self.predictions.labels(_label(key))
        self.ready.set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _label(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
