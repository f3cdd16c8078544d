"""Units of the inference server that need no HTTP: the exact fast paths and input parsing."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from iris_server.fastpath import fast_predict
from iris_server.inputs import BadInput, FeatureSpec, rows_from_csv, rows_from_mlflow, rows_from_predict

IRIS = load_iris()
NAMES = np.asarray(["setosa", "versicolor", "virginica"])


def random_rows(n: int = 500) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.uniform(IRIS.data.min(axis=0) - 1, IRIS.data.max(axis=0) + 1, size=(n, 4))


@pytest.mark.parametrize(
    "estimator,labels",
    [
        (RandomForestClassifier(n_estimators=25, random_state=0), NAMES[IRIS.target]),
        (RandomForestClassifier(n_estimators=25, random_state=0), IRIS.target),
        (ExtraTreesClassifier(n_estimators=25, random_state=0), NAMES[IRIS.target]),
        (DecisionTreeClassifier(random_state=0), NAMES[IRIS.target]),
        (LogisticRegression(max_iter=1000), NAMES[IRIS.target]),
        (LogisticRegression(max_iter=1000), IRIS.target == 0),  # binary: one coefficient row
    ],
    ids=["forest-names", "forest-ints", "extra-trees", "tree", "logistic", "logistic-binary"],
)
def test_fast_paths_predict_exactly_what_the_estimator_predicts(estimator, labels):
    estimator.fit(IRIS.data, labels)
    predict, label = fast_predict(estimator, 4)
    assert label.endswith("fast path")
    x = random_rows()
    assert np.array_equal(predict(x), estimator.predict(x))
    assert np.array_equal(predict(x[:1]), estimator.predict(x[:1]))


def test_other_estimators_use_their_own_predict():
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(IRIS.data, IRIS.target)
    predict, label = fast_predict(pipeline, 4)
    assert label == "Pipeline.predict"
    assert predict == pipeline.predict


class Skewed(RandomForestClassifier):
    """A forest whose predict() is not the plain average of its trees: the fast path must notice."""

    def predict(self, X):
        return self.classes_[np.zeros(len(X), dtype=int)]


def test_a_fast_path_that_disagrees_with_predict_is_not_used():
    forest = Skewed(n_estimators=10, random_state=0).fit(IRIS.data, NAMES[IRIS.target])
    predict, label = fast_predict(forest, 4)
    assert label == "Skewed.predict"
    assert set(predict(random_rows())) == {"setosa"}


UNNAMED = FeatureSpec.of(4, None)
NAMED = FeatureSpec.of(2, ("a", "b"))


def test_unnamed_features_take_positional_rows_only():
    assert rows_from_predict([[1, 2, 3, 4.5]], UNNAMED, 10) == [[1, 2, 3, 4.5]]
    split = {"dataframe_split": {"columns": ["w", "x", "y", "z"], "data": [[1, 2, 3, 4]]}}
    assert rows_from_mlflow(split, UNNAMED, 10) == [[1, 2, 3, 4]]
    with pytest.raises(BadInput, match="features are unnamed") as err:
        rows_from_predict([{"a": 1}], UNNAMED, 10)
    assert err.value.reason == "bad_format"
    with pytest.raises(BadInput, match="expected 4 columns, got 2"):
        rows_from_mlflow({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}}, UNNAMED, 10)


def test_named_features_are_put_in_model_order():
    assert rows_from_predict([{"b": 2.0, "a": 1.0, "extra": "ignored"}], NAMED, 10) == [[1.0, 2.0]]
    assert rows_from_mlflow({"inputs": {"b": [2, 4], "a": [1, 3]}}, NAMED, 10) == [[1, 2], [3, 4]]
    assert rows_from_csv(b"b,a\n2,1\n4,3\n", NAMED, 10) == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(BadInput, match="row 1: expected 2 values") as err:
        rows_from_csv(b"b,a\n2,1\n4\n", NAMED, 10)
    assert err.value.reason == "wrong_length"
    with pytest.raises(BadInput, match="no rows"):
        rows_from_csv(b"b,a\n", NAMED, 10)


def test_limits_are_checked_before_the_rows_are_read():
    rows = [[1.0, "not checked"]] * 11
    with pytest.raises(BadInput, match="too many rows: 11, the maximum is 10") as err:
        rows_from_predict(rows, NAMED, 10)
    assert err.value.reason == "too_many_rows"


def _mlmodel(columns):
    from mlflow.models import Model, ModelSignature
    from mlflow.types import ColSpec, Schema

    return Model(signature=ModelSignature(inputs=Schema([ColSpec("double", c) for c in columns])))


def test_features_follow_the_estimators_fitted_order_and_must_match_the_signature():
    import pandas as pd

    from iris_server.loader import ModelLoadError, _feature_spec

    frame = pd.DataFrame(IRIS.data, columns=["a", "b", "c", "d"])
    estimator = LogisticRegression(max_iter=1000).fit(frame, IRIS.target)
    spec = _feature_spec(_mlmodel(["d", "c", "b", "a"]), estimator)
    assert spec.names == ("a", "b", "c", "d")
    with pytest.raises(ModelLoadError, match="not the features the estimator was fitted on"):
        _feature_spec(_mlmodel(["a", "b", "c", "x"]), estimator)
    unnamed = LogisticRegression(max_iter=1000).fit(IRIS.data, IRIS.target)
    assert _feature_spec(_mlmodel(["w", "x", "y", "z"]), unnamed).names == ("w", "x", "y", "z")


def test_models_with_non_numeric_features_are_refused():
    from mlflow.models import Model, ModelSignature
    from mlflow.types import ColSpec, Schema

    from iris_server.loader import ModelLoadError, _feature_spec

    mlmodel = Model(signature=ModelSignature(inputs=Schema([ColSpec("double", "a"), ColSpec("string", "b")])))
    with pytest.raises(ModelLoadError, match="numeric features"):
        _feature_spec(mlmodel, None)
