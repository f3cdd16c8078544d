"""model/train.py: deterministic, a metrics file the action can read, a model MLflow can load and serve."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

import train

TRAIN = Path(train.__file__)
CLASSES = ["setosa", "versicolor", "virginica"]
SAMPLES = pd.DataFrame(
    [[5.1, 3.5, 1.4, 0.2], [6.0, 2.7, 4.2, 1.3], [6.7, 3.0, 5.2, 2.3]],
    columns=train.FEATURES,
)


def run_cli(out: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return subprocess.run(
        [sys.executable, str(TRAIN), "--output-dir", str(out), *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trained")
    result = run_cli(out)
    assert result.returncode == 0, result.stderr
    return out


def test_same_arguments_give_the_same_metrics_and_predictions(tmp_path):
    a = train.train(train.parse_args(["--seed", "7"]))
    b = train.train(train.parse_args(["--seed", "7"]))
    assert a[2] == b[2]
    assert a[3] == b[3]
    assert list(a[0].predict(SAMPLES)) == list(b[0].predict(SAMPLES))
    assert list(a[0].predict_proba(train.load_data()[0]).ravel()) == list(
        b[0].predict_proba(train.load_data()[0]).ravel()
    )


def test_the_seed_changes_the_split(tmp_path):
    one = train.train(train.parse_args(["--seed", "1", "--n-estimators", "5"]))[2]
    other = train.train(train.parse_args(["--seed", "2", "--n-estimators", "5"]))[2]
    assert one["confusion_matrix"] != other["confusion_matrix"] or one["accuracy"] != other["accuracy"]


def test_metrics_file_has_the_documented_shape(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    assert set(metrics) == {"accuracy", "f1_macro", "precision", "recall", "confusion_matrix"}
    assert 0.8 <= metrics["accuracy"] <= 1.0
    assert 0.8 <= metrics["f1_macro"] <= 1.0
    for kind in ("precision", "recall"):
        assert sorted(metrics[kind]) == CLASSES
        assert all(0.0 <= v <= 1.0 for v in metrics[kind].values())
    cm = metrics["confusion_matrix"]
    assert sorted(cm) == CLASSES and all(sorted(row) == CLASSES for row in cm.values())
    params = json.loads((trained / "params.json").read_text())
    # Stratified 30% of 150: 15 of each class in the test set, so every row sums to 15.
    assert params["n_test"] == 45
    assert all(sum(row.values()) == 15 for row in cm.values())
    correct = sum(cm[c][c] for c in CLASSES)
    assert correct / 45 == pytest.approx(metrics["accuracy"], abs=1e-6)
    assert metrics["recall"]["virginica"] == pytest.approx(cm["virginica"]["virginica"] / 15, abs=1e-6)
    flat = train.flatten(metrics)
    assert all(isinstance(v, (int, float)) for v in flat.values())
    assert "confusion_matrix.versicolor.virginica" in flat


def test_params_file_records_the_arguments(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_RUN_ID", "not-a-run")  # --no-mlflow must not touch it
    argv = ["--seed", "3", "--n-estimators", "7", "--max-depth", "2", "--no-mlflow", "--output-dir", str(tmp_path)]
    assert train.main(argv) == 0
    assert (tmp_path / "model" / "MLmodel").exists()
    params = json.loads((tmp_path / "params.json").read_text())
    assert params["seed"] == 3 and params["n_estimators"] == 7 and params["max_depth"] == 2


def test_label_noise_makes_a_worse_model():
    good = train.train(train.parse_args([]))[2]
    worse = train.train(train.parse_args(["--label-noise", "0.6"]))[2]
    assert worse["accuracy"] < good["accuracy"] - 0.05
    assert worse["f1_macro"] < good["f1_macro"]


@pytest.mark.parametrize("args", [["--label-noise", "1.5"], ["--test-size", "0"], ["--n-estimators", "0"]])
def test_bad_arguments_exit_2(capsys, args):
    with pytest.raises(SystemExit) as exited:
        train.parse_args(args)
    assert exited.value.code == 2
    assert args[0] in capsys.readouterr().err


def test_saved_model_loads_with_pyfunc_and_predicts_class_names(trained):
    model_dir = trained / "model"
    model = mlflow.pyfunc.load_model(str(model_dir))
    assert {"sklearn", "python_function"} <= set(model.metadata.flavors)
    assert model.metadata.get_input_schema().input_names() == train.FEATURES
    assert model.metadata.get_output_schema() is not None
    assert list(model.predict(SAMPLES)) == ["setosa", "versicolor", "virginica"]
    # `mlflow models serve` reads the serving example; it must be valid input for the signature.
    served = json.loads((model_dir / "serving_input_example.json").read_text())
    assert served["dataframe_split"]["columns"] == train.FEATURES
    assert (model_dir / "requirements.txt").read_text().count("scikit-learn==") == 1


def test_logs_into_the_callers_run_without_ending_it(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    exp = client.create_experiment("train-test", artifact_location=(tmp_path / "artifacts").as_uri())
    run = client.create_run(exp)
    env = {
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_RUN_ID": run.info.run_id,
        "MLFLOW_EXPERIMENT_ID": exp,
    }
    result = run_cli(tmp_path / "out", "--n-estimators", "10", env=env)
    assert result.returncode == 0, result.stderr

    logged = client.get_run(run.info.run_id)
    # The caller (train-and-log) owns the run and decides how it ends.
    assert logged.info.status == "RUNNING"
    file_metrics = train.flatten(json.loads((tmp_path / "out" / "metrics.json").read_text()))
    assert logged.data.metrics == pytest.approx({k: float(v) for k, v in file_metrics.items()})
    assert logged.data.params["n_estimators"] == "10"
    models = client.search_logged_models(experiment_ids=[exp])
    assert len(models) == 1
    assert models[0].name == "model" and models[0].source_run_id == run.info.run_id
    assert not (tmp_path / "out" / "model").exists()
    mlflow.set_tracking_uri(uri)
    try:
        loaded = mlflow.pyfunc.load_model(f"models:/{models[0].model_id}")
    finally:
        mlflow.set_tracking_uri(None)
    assert list(loaded.predict(SAMPLES))[0] == "setosa"


def test_mlflow_models_serve_answers_with_the_saved_model(trained):
    """The contract the serving image relies on: `mlflow models serve` loads it and predicts."""
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mlflow_cli = Path(sys.executable).parent / "mlflow"
    server = subprocess.Popen(
        [str(mlflow_cli), "models", "serve", "-m", str(trained / "model"), "--env-manager", "local",
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        # It execs `uvicorn` by name: the environment's bin directory must be on PATH.
        env={**os.environ, "PATH": f"{mlflow_cli.parent}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    try:
        body = (trained / "model" / "serving_input_example.json").read_bytes()
        deadline = time.monotonic() + 120
        while True:
            try:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(req, timeout=5) as res:
                    answer = json.loads(res.read())
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "mlflow models serve did not answer"
                time.sleep(0.5)
        assert len(answer["predictions"]) == 3
        assert set(answer["predictions"]) <= set(CLASSES)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, 15)
        server.wait(timeout=30)


def test_feature_names_rename_the_signature_and_keep_the_metrics(tmp_path):
    names = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
    renamed = train.train(train.parse_args(["--feature-names", ",".join(names), "--n-estimators", "5"]))
    plain = train.train(train.parse_args(["--n-estimators", "5"]))
    # Same data under other names: the gate sees the same model...
    assert renamed[2] == plain[2]
    assert renamed[3]["feature_names"] == ",".join(names)
    # ...but its signature asks for columns no client of the service sends.
    train.save_locally(tmp_path / "model", renamed[0], renamed[1])
    model = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    assert model.metadata.get_input_schema().input_names() == names


@pytest.mark.parametrize("names", ["a,b,c", "a,b,c,a", "a,,b,c"])
def test_feature_names_must_be_four_distinct_names(capsys, names):
    with pytest.raises(SystemExit) as exited:
        train.parse_args(["--feature-names", names])
    assert exited.value.code == 2
    assert "--feature-names" in capsys.readouterr().err
