"""The benchmark workload through MLflow's own Python client, written the way a user would.

Run by bench/mlflow-logging.ts against the same server as our client. Prints one JSON line:
{"seconds": <logging time>, "import_seconds": <import mlflow>, "requests": <HTTP requests>, ...}.
"""

import argparse
import json
import time

t0 = time.perf_counter()
import mlflow  # noqa: E402
import requests  # noqa: E402

import_seconds = time.perf_counter() - t0

# Count HTTP requests the client makes (every attempt goes through Session.send).
_count = 0
_send = requests.Session.send


def _counting_send(self, *args, **kwargs):
    global _count
    _count += 1
    return _send(self, *args, **kwargs)


requests.Session.send = _counting_send


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--workload", required=True, help="directory with small/, big.bin and model/")
    p.add_argument("--experiment", required=True)
    p.add_argument("--model-name", required=True)
    p.add_argument(
        "--metric-style",
        choices=["log_metrics", "log_metric"],
        default="log_metrics",
        help="log_metrics: one call per step; log_metric: one call per metric per step",
    )
    a = p.parse_args()
    w = a.workload

    phases = {}
    mark = time.perf_counter()

    def phase(name):
        nonlocal mark
        now = time.perf_counter()
        phases[name] = now - mark
        mark = now

    start = time.perf_counter()
    mlflow.set_tracking_uri(a.tracking_uri)
    mlflow.set_experiment(a.experiment)
    with mlflow.start_run(run_name="python-client") as run:
        phase("setup")
        mlflow.log_params({f"param_{i}": f"value_{i}" for i in range(50)})
        for step in range(100):
            values = {f"metric_{k}": k + step / 100 for k in range(100)}
            if a.metric_style == "log_metrics":
                mlflow.log_metrics(values, step=step)
            else:
                for key, value in values.items():
                    mlflow.log_metric(key, value, step=step)
        phase("metrics+params")
        mlflow.log_artifacts(f"{w}/small", "small")
        phase("small files")
        mlflow.log_artifact(f"{w}/big.bin", "big")
        phase("20 MB file")
        mlflow.log_artifacts(f"{w}/model", "model")
        phase("model")
    mv = mlflow.register_model(f"runs:/{run.info.run_id}/model", a.model_name)
    phase("run end + register")
    seconds = time.perf_counter() - start

    print(
        json.dumps({
            "seconds": seconds,
            "import_seconds": import_seconds,
            "requests": _count,
            "run_id": run.info.run_id,
            "version": mv.version,
            "status": mv.status,
            "phases": phases,
        })
    )


if __name__ == "__main__":
    main()
