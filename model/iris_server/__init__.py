"""Fast inference server for MLflow scikit-learn models (the iris classifier).

The model is loaded once at start-up from a local MLflow model directory (the serving image bakes
the registered version into /app/model: no MLflow call at start-up), or, for development, from
the MLflow registry (``models:/iris@champion``, ``models:/iris/3``) or any other artifact URI.
Requests are validated into numeric rows in the model's feature order, coalesced with the
requests that arrived in the same event-loop turn, and predicted with one call to the
underlying scikit-learn estimator (pyfunc only when the model has no sklearn flavor).

Routes: POST /predict, POST /invocations (MLflow scoring protocol), GET /healthz, GET /readyz,
GET /metrics (Prometheus), plus MLflow's GET /ping, /health and /version for drop-in use.

Metrics (the names platform/prometheus/rules and the Grafana dashboard query):
  iris_requests_total{route,status}            counter; route is the path, or "other"
  iris_request_duration_seconds{route}         histogram
  iris_predictions_total{class}                counter, one series per class from the start
  iris_input_errors_total{reason}              counter of 4xx input rejections by reason
  iris_batch_rows                              histogram of rows per model call
  iris_model_info{name,version,run_id,digest,flavor}  gauge, 1 for the model being served
  iris_model_ready                             gauge, 1 once the model is loaded
  iris_model_load_duration_seconds             gauge
"""

__all__ = ["__version__"]
__version__ = "1.0.0"
