"""Train the iris classifier.

Seeded and deterministic: the same arguments give the same model and the same metrics.
Writes ``metrics.json`` (accuracy, f1_macro, per-class precision/recall, confusion matrix)
and ``params.json`` into ``--output-dir``.

With ``MLFLOW_RUN_ID`` set (as the train-and-log action sets it, with ``MLFLOW_TRACKING_URI``)
it logs params, metrics and the model into that run with the MLflow Python client, and leaves
the run's status to the caller that owns the run. Without it (or with ``--no-mlflow``) it never
contacts a server and saves the MLflow model to ``--model-dir`` instead.

``--label-noise`` replaces that fraction of the training labels with random ones: a
deliberately worse model, used to exercise the promotion gate. ``--feature-names`` trains on the
same data under other column names: the same metrics (the gate passes), but a model whose
signature no client of the service sends, as after a schema change on the training side only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score
from sklearn.model_selection import train_test_split

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
MODEL_NAME = "model"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=42, help="seeds the split, the forest and the label noise")
    p.add_argument("--n-estimators", type=int, default=100)
    p.add_argument("--max-depth", type=int, default=None, help="default: unlimited")
    p.add_argument("--test-size", type=float, default=0.3, help="fraction of the data held out")
    p.add_argument(
        "--label-noise",
        type=float,
        default=0.0,
        help="fraction of training labels replaced by random classes (0..1): a worse model on purpose",
    )
    p.add_argument(
        "--feature-names",
        default=",".join(FEATURES),
        help="the four column names the model is trained (and its signature) on, comma-separated",
    )
    p.add_argument("--output-dir", default=".", help="where metrics.json and params.json go")
    p.add_argument(
        "--model-dir",
        default=None,
        help="save the MLflow model here too (default without MLflow: <output-dir>/model)",
    )
    p.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow even if MLFLOW_RUN_ID is set")
    args = p.parse_args(argv)
    if not 0.0 < args.test_size < 1.0:
        p.error("--test-size must be between 0 and 1")
    if not 0.0 <= args.label_noise <= 1.0:
        p.error("--label-noise must be between 0 and 1")
    if args.n_estimators < 1:
        p.error("--n-estimators must be at least 1")
    args.feature_names = [n.strip() for n in args.feature_names.split(",")]
    if "" in args.feature_names or len(set(args.feature_names)) != len(FEATURES):
        p.error(f"--feature-names must be {len(FEATURES)} distinct non-empty names")
    return args


def load_data(features: list[str] = FEATURES) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """sklearn's bundled copy of iris: no download. Labels are class names, so predictions read 'setosa'."""
    iris = load_iris()
    X = pd.DataFrame(iris.data, columns=features)
    names = [str(n) for n in iris.target_names]
    y = pd.Series(np.asarray(names)[iris.target], name="species")
    return X, y, names


def add_label_noise(y: pd.Series, classes: list[str], fraction: float, seed: int) -> pd.Series:
    if fraction <= 0:
        return y
    rng = np.random.default_rng(seed)
    noisy = y.to_numpy().copy()
    picked = rng.choice(len(noisy), size=int(round(fraction * len(noisy))), replace=False)
    noisy[picked] = rng.choice(classes, size=len(picked))
    return pd.Series(noisy, index=y.index, name=y.name)


def train(args: argparse.Namespace):
    X, y, classes = load_data(args.feature_names)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=args.test_size, random_state=args.seed, stratify=y
    )
    y_train = add_label_noise(y_train, classes, args.label_noise, args.seed)
    model = RandomForestClassifier(
        n_estimators=args.n_estimators, max_depth=args.max_depth, random_state=args.seed, n_jobs=1
    )
    model.fit(X_train, y_train)
    predicted = model.predict(X_test)
    metrics = evaluate(y_test, predicted, classes)
    params = {
        "model": "RandomForestClassifier",
        "seed": args.seed,
        "n_estimators": args.n_estimators,
        "max_depth": args.max_depth if args.max_depth is not None else "None",
        "test_size": args.test_size,
        "label_noise": args.label_noise,
        "feature_names": ",".join(args.feature_names),
        "n_train": len(X_train),
        "n_test": len(X_test),
    }
    return model, X_train, metrics, params


def evaluate(y_true, y_pred, classes: list[str]) -> dict:
    """Nested and all numeric: the action flattens it to `precision.setosa`, `confusion_matrix.setosa.virginica`..."""
    precision = precision_score(y_true, y_pred, labels=classes, average=None, zero_division=0)
    recall = recall_score(y_true, y_pred, labels=classes, average=None, zero_division=0)
    cm = confusion_matrix(y_true, y_pred, labels=classes)
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 6),
        "f1_macro": round(float(f1_score(y_true, y_pred, labels=classes, average="macro", zero_division=0)), 6),
        "precision": {c: round(float(v), 6) for c, v in zip(classes, precision)},
        "recall": {c: round(float(v), 6) for c, v in zip(classes, recall)},
        # rows: true class, columns: predicted class
        "confusion_matrix": {t: {p: int(cm[i][j]) for j, p in enumerate(classes)} for i, t in enumerate(classes)},
    }


def flatten(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def model_kwargs(model, X_train: pd.DataFrame) -> dict:
    from mlflow.models import infer_signature

    example = X_train.head(3)
    return {
        "signature": infer_signature(example, pd.Series(model.predict(example), name="species")),
        "input_example": example,
        # Pinned from this environment: inferring them imports the model in a subprocess (slow).
        "pip_requirements": pinned_requirements(),
        # skops refuses tree node storage unless trusted by name; we built this forest ourselves.
        "skops_trusted_types": ["sklearn.tree._tree.Tree"],
    }


def pinned_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in ("mlflow", "scikit-learn", "skops", "numpy", "pandas", "scipy")]


def log_to_mlflow(run_id: str, model, X_train: pd.DataFrame, metrics: dict, params: dict) -> str:
    import mlflow
    from mlflow.entities import Metric, Param

    client = mlflow.MlflowClient()
    now = int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in flatten(metrics).items()],
        params=[Param(k, str(v)) for k, v in params.items()],
    )
    # run_id instead of an active run: the caller owns the run and ends it, the script must not.
    info = mlflow.sklearn.log_model(model, name=MODEL_NAME, run_id=run_id, **model_kwargs(model, X_train))
    return info.model_uri


def save_locally(path: Path, model, X_train: pd.DataFrame) -> None:
    import shutil

    import mlflow

    if path.exists():
        shutil.rmtree(path)
    mlflow.sklearn.save_model(model, str(path), **model_kwargs(model, X_train))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    model, X_train, metrics, params = train(args)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "params.json").write_text(json.dumps(params, indent=2) + "\n")
    print(f"accuracy={metrics['accuracy']:.4f} f1_macro={metrics['f1_macro']:.4f}", flush=True)

    run_id = os.environ.get("MLFLOW_RUN_ID")
    if run_id and not args.no_mlflow:
        uri = log_to_mlflow(run_id, model, X_train, metrics, params)
        print(f"logged model {uri} into run {run_id}", flush=True)
    model_dir = args.model_dir or (None if run_id and not args.no_mlflow else str(out / "model"))
    if model_dir:
        save_locally(Path(model_dir), model, X_train)
        print(f"saved model to {model_dir}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
