"""Resolves a model URI to one concrete model version and loads it for fast prediction.

MLflow is imported here only, so the HTTP server is listening (and /healthz answers) while the
heavy imports and the download happen.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .inputs import FeatureSpec

log = logging.getLogger("iris_server.loader")

_NUMERIC_COLUMN_TYPES = {"double", "float", "long", "integer"}


class ModelLoadError(RuntimeError):
    """The model could not be resolved or loaded; the message says which URI and why."""


@dataclass(frozen=True)
class LoadedModel:
    uri: str
    name: str
    version: str
    run_id: str
    digest: str  # sha256 over the model's files (iris_server.digest), as the image label says
    flavor: str  # "sklearn" when predicting with the estimator itself, else "python_function"
    predictor: str  # how predictions are computed, for the start-up log and /readyz
    features: FeatureSpec
    classes: tuple[Any, ...]
    predict: Callable[[np.ndarray], np.ndarray]

    def info(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "digest": self.digest,
            "flavor": self.flavor,
            "predictor": self.predictor,
            "features": list(self.features.names) if self.features.names else self.features.n,
            "classes": [c.item() if isinstance(c, np.generic) else c for c in self.classes],
        }


@dataclass(frozen=True)
class Labels:
    """What a local model directory is, as the image build recorded it (MODEL_NAME, MODEL_VERSION,
    MODEL_RUN_ID, MODEL_DIGEST). The registry knows better for models:/ URIs: there they are ignored."""

    name: str | None = None
    version: str | None = None
    run_id: str | None = None
    digest: str | None = None


@dataclass(frozen=True)
class _Resolved:
    download_uri: str | None  # None: already a local directory
    local_dir: str | None
    name: str | None
    version: str | None
    run_id: str | None


_MODELS_ALIAS = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/]+)$")
_MODELS_VERSION = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<ref>[^/]+)$")


def _resolve(uri: str) -> _Resolved:
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    if "://" not in uri and ":/" not in uri:
        path = os.path.abspath(uri)
        if not os.path.isfile(os.path.join(path, "MLmodel")):
            raise ModelLoadError(f"{uri} is not an MLflow model directory (no MLmodel file in {path})")
        return _Resolved(None, path, None, None, None)

    alias = _MODELS_ALIAS.match(uri)
    version = _MODELS_VERSION.match(uri)
    if not (alias or version):
        # runs:/, mlflow-artifacts:/, s3://, models:/m-<id> ...: downloaded as they are.
        return _Resolved(uri, None, None, None, None)

    from mlflow import MlflowClient

    client = MlflowClient()
    if alias:
        name = alias["name"]
        mv = client.get_model_version_by_alias(name, alias["alias"])
    else:
        assert version is not None
        name, ref = version["name"], version["ref"]
        if ref.isdigit():
            mv = client.get_model_version(name, ref)
        else:
            # "latest" or a legacy stage name (Production, Staging ...).
            stages = None if ref.lower() == "latest" else [ref]
            found = client.get_latest_versions(name, stages=stages)
            if not found:
                raise ModelLoadError(f"{uri}: model {name!r} has no version in {ref!r}")
            mv = max(found, key=lambda v: int(v.version))
    # Pin the download to the version just resolved, so a concurrent alias move cannot mix
    # one version's metadata with another's artifacts.
    return _Resolved(f"models:/{name}/{mv.version}", None, name, str(mv.version), mv.run_id or None)


def _feature_spec(mlmodel: Any, estimator: Any | None) -> FeatureSpec:
    fitted = getattr(estimator, "feature_names_in_", None) if estimator is not None else None
    signature = mlmodel.signature
    inputs = signature.inputs if signature is not None else None
    if inputs is not None and inputs.has_input_names():
        bad = [
            f"{c.name} ({c.type})"
            for c in inputs.inputs
            if str(getattr(c.type, "name", c.type)) not in _NUMERIC_COLUMN_TYPES
        ]
        if bad:
            raise ModelLoadError("this server serves models with numeric features; the signature has " + ", ".join(bad))
        names = tuple(inputs.input_names())
        if fitted is not None:
            if set(map(str, fitted)) != set(names):
                # Serving by position would silently feed features into the wrong coefficients.
                raise ModelLoadError(
                    f"the signature's columns {list(names)} are not the features the estimator was fitted "
                    f"on {[str(f) for f in fitted]}"
                )
            # The estimator's own order is the one its coefficients follow.
            names = tuple(map(str, fitted))
        return FeatureSpec.of(len(names), names)
    if fitted is not None:
        return FeatureSpec.of(len(fitted), tuple(map(str, fitted)))
    n = getattr(estimator, "n_features_in_", None)
    if n is None and inputs is not None and not inputs.has_input_names():
        shape = inputs.inputs[0].shape if inputs.inputs else ()
        n = shape[-1] if shape and shape[-1] and shape[-1] > 0 else None
    if not n:
        raise ModelLoadError("cannot tell the model's features: it has no input signature and no feature count")
    return FeatureSpec.of(int(n), None)


def _sklearn_predict(estimator: Any, method: str, n_features: int) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    import sklearn
    from threadpoolctl import threadpool_limits

    # One request batch at a time on one core: worker pools (joblib for forests, BLAS threads)
    # only add hand-off costs at these sizes and fight the other processes for the CPU.
    threadpool_limits(limits=1)
    jobs = {
        key: 1 for key, value in estimator.get_params().items() if key.endswith("n_jobs") and value not in (None, 1)
    }
    if jobs:
        estimator.set_params(**jobs)

    # Inputs are validated as finite before they get here, so sklearn's own checks are redundant.
    sklearn.set_config(assume_finite=True)
    # Fitted on a DataFrame, the estimator warns on every ndarray; the columns are already in its order.
    warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)
    if method == "predict":
        from .fastpath import fast_predict

        return fast_predict(estimator, n_features)
    return getattr(estimator, method), f"{type(estimator).__name__}.{method}"


def _pyfunc_predict(pyfunc: Any, spec: FeatureSpec, mlmodel: Any) -> Callable[[np.ndarray], np.ndarray]:
    import pandas as pd

    dtypes: dict[str, Any] = {}
    signature = mlmodel.signature
    if signature is not None and signature.inputs.has_input_names():
        for col in signature.inputs.inputs:
            if str(getattr(col.type, "name", col.type)) in ("long", "integer"):
                dtypes[col.name] = np.int64 if str(col.type.name) == "long" else np.int32
    columns = list(spec.names) if spec.names else None

    def predict(x: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame(x, columns=columns)
        if dtypes:
            frame = frame.astype(dtypes)
        out = pyfunc.predict(frame)
        if isinstance(out, pd.DataFrame | pd.Series):
            return out.to_numpy()
        return np.asarray(out)

    return predict


def load_model(uri: str, labels: Labels | None = None) -> LoadedModel:
    """Downloads (if remote) and loads the model; raises ModelLoadError with the cause."""
    try:
        return _load(uri, labels or Labels())
    except ModelLoadError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure here is a start-up failure to report
        raise ModelLoadError(f"{type(err).__name__}: {err}") from err


def _describe(uri: str, resolved: _Resolved, labels: Labels, local_dir: str, mlmodel_run_id: str | None):
    """Name, version, run id and digest of the model in `local_dir`; the digest is always computed
    from the files, and a local directory that does not hash to its recorded digest is refused."""
    from .digest import model_digest

    digest = model_digest(local_dir)
    if resolved.local_dir is None:
        if any((labels.name, labels.version, labels.run_id, labels.digest)):
            log.info("%s comes from MLflow: MODEL_NAME/VERSION/RUN_ID/DIGEST (set for a model directory) ignored", uri)
        name = resolved.name or os.path.basename(os.path.normpath(local_dir))
        return name, resolved.version or "unknown", resolved.run_id or mlmodel_run_id or "", digest
    if labels.digest is not None and labels.digest != digest:
        raise ModelLoadError(
            f"the files in {local_dir} hash to {digest}, not to MODEL_DIGEST {labels.digest}: "
            "this is not the model the image was built with"
        )
    name = labels.name or os.path.basename(os.path.normpath(local_dir))
    return name, labels.version or "unknown", labels.run_id or mlmodel_run_id or "", digest


def _load(uri: str, labels: Labels) -> LoadedModel:
    resolved = _resolve(uri)
    local_dir = resolved.local_dir
    if local_dir is None:
        import mlflow

        assert resolved.download_uri is not None
        local_dir = mlflow.artifacts.download_artifacts(
            artifact_uri=resolved.download_uri, dst_path=tempfile.mkdtemp(prefix="model-")
        )
    from mlflow.models import Model

    mlmodel = Model.load(local_dir)
    flavors = mlmodel.flavors
    pyfunc_conf = flavors.get("python_function", {})
    method = pyfunc_conf.get("predict_fn", "predict") or "predict"

    estimator = None
    if "sklearn" in flavors:
        import mlflow.sklearn

        estimator = mlflow.sklearn.load_model(local_dir)
        if not callable(getattr(estimator, method, None)):
            raise ModelLoadError(f"the sklearn model has no {method}() method")
    features = _feature_spec(mlmodel, estimator)
    if estimator is not None:
        flavor = "sklearn"
        predict, predictor = _sklearn_predict(estimator, method, features.n)
        classes = tuple(getattr(estimator, "classes_", ())) if method == "predict" else ()
    elif "python_function" in flavors:
        import mlflow.pyfunc

        flavor = "python_function"
        predict = _pyfunc_predict(mlflow.pyfunc.load_model(local_dir), features, mlmodel)
        predictor = "pyfunc.predict on a DataFrame"
        classes = ()
    else:
        raise ModelLoadError(f"the model has neither a sklearn nor a python_function flavor ({', '.join(flavors)})")

    name, version, run_id, digest = _describe(uri, resolved, labels, local_dir, mlmodel.run_id)
    model = LoadedModel(uri, name, version, run_id, digest, flavor, predictor, features, classes, predict)
    # One real prediction before reporting ready: it proves the model works on the expected
    # shape and takes sklearn's first-call costs off the first request.
    warm = np.zeros((1, features.n), dtype=np.float64)
    try:
        predict(warm)
    except Exception as err:  # noqa: BLE001
        raise ModelLoadError(f"the model failed a trial prediction on {features.n} features: {err}") from err
    return model
