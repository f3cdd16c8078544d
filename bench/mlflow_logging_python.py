"""The benchmark workload through MLflow's own Python client, written the way a user would.

Run by bench/mlflow-logging.ts against the same server as our client. Prints one JSON line:
{"seconds": <logging time>, "import_seconds": <import mlflow>, "requests": <HTTP requests>, ...}.

Styles:
  log_metrics   fluent API, one mlflow.log_metrics call per step (what most examples show)
  log_metric    fluent API, one call per metric per step
  batch         the best a Python user writes: MlflowClient().log_batch in chunks of 1,000
                entities, and every file uploaded with MlflowClient().log_artifact from a
                ThreadPoolExecutor while the metric batches go out in their own thread
"""

import argparse
import json
import os
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

PARAMS = 50
METRICS = 100
STEPS = 100
# MLflow's MAX_ENTITIES_PER_BATCH / MAX_METRICS_PER_BATCH.
CHUNK = 1000


class Phases:
    def __init__(self):
        self.phases = {}
        self.mark = time.perf_counter()

    def __call__(self, name):
        now = time.perf_counter()
        self.phases[name] = now - self.mark
        self.mark = now


def fluent(a, phase):
    w = a.workload
    mlflow.set_tracking_uri(a.tracking_uri)
    mlflow.set_experiment(a.experiment)
    with mlflow.start_run(run_name="python-client") as run:
        phase("setup")
        mlflow.log_params({f"param_{i}": f"value_{i}" for i in range(PARAMS)})
        for step in range(STEPS):
            values = {f"metric_{k}": k + step / 100 for k in range(METRICS)}
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
    return run.info.run_id, mv


def files_under(root, dest):
    """(local file, artifact directory) for every file under root, as log_artifacts would place them."""
    out = []
    for d, _, names in os.walk(root):
        rel = os.path.relpath(d, root)
        for n in sorted(names):
            out.append((os.path.join(d, n), dest if rel == "." else f"{dest}/{rel}"))
    return out


def batched(a, phase):
    from concurrent.futures import ThreadPoolExecutor

    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunStatus

    w = a.workload
    client = MlflowClient(a.tracking_uri)
    exp = client.get_experiment_by_name(a.experiment)
    exp_id = exp.experiment_id if exp else client.create_experiment(a.experiment)
    run_id = client.create_run(exp_id, run_name="python-client-batch").info.run_id
    phase("setup")
    ts = int(time.time() * 1000)
    params = [Param(f"param_{i}", f"value_{i}") for i in range(PARAMS)]
    metrics = [
        Metric(f"metric_{k}", k + step / 100, ts, step) for step in range(STEPS) for k in range(METRICS)
    ]

    def log_metrics():
        client.log_batch(run_id, params=params)
        for i in range(0, len(metrics), CHUNK):
            client.log_batch(run_id, metrics=metrics[i : i + CHUNK])

    uploads = files_under(f"{w}/small", "small") + [(f"{w}/big.bin", "big")]
    uploads += files_under(f"{w}/model", "model")
    # Same number of uploads in flight as our client's default (transport uploadConcurrency).
    with ThreadPoolExecutor(max_workers=a.threads + 1) as pool:
        m = pool.submit(log_metrics)
        with ThreadPoolExecutor(max_workers=a.threads) as files:
            for f in [files.submit(client.log_artifact, run_id, path, dest) for path, dest in uploads]:
                f.result()
        m.result()
    phase("metrics+params+files+model")
    client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
    mv = mlflow.register_model(f"runs:/{run_id}/model", a.model_name)
    phase("run end + register")
    return run_id, mv


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--workload", required=True, help="directory with small/, big.bin and model/")
    p.add_argument("--experiment", required=True)
    p.add_argument("--model-name", required=True)
    p.add_argument("--metric-style", choices=["log_metrics", "log_metric", "batch"], default="log_metrics")
    p.add_argument("--threads", type=int, default=8, help="upload threads of the batch style")
    a = p.parse_args()
    mlflow.set_tracking_uri(a.tracking_uri)

    phase = Phases()
    start = time.perf_counter()
    run_id, mv = batched(a, phase) if a.metric_style == "batch" else fluent(a, phase)
    seconds = time.perf_counter() - start

    print(
        json.dumps({
            "seconds": seconds,
            "import_seconds": import_seconds,
            "requests": _count,
            "run_id": run_id,
            "version": mv.version,
            "status": mv.status,
            "phases": phase.phases,
        })
    )


if __name__ == "__main__":
    main()
