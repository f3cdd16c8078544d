"""model/serve.py, run as the image runs it: a subprocess on a free port, real HTTP, real MLflow."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from iris_server.digest import model_digest

MODEL_DIR = Path(__file__).resolve().parent.parent
SERVE = MODEL_DIR / "serve.py"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
CLASSES = ["setosa", "versicolor", "virginica"]
MAX_ROWS = 5
MAX_BODY = 4096
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.0, 2.7, 4.2, 1.3], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 5.1, 1.8]]


# --- helpers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self):
        return json.loads(self.body)


def request(
    url: str,
    method: str = "GET",
    body: bytes | str | None = None,
    content_type: str | None = "application/json",
    timeout: float = 10,
) -> Response:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        headers = {"content-type": content_type} if content_type and body is not None else {}
        conn.request(method, parts.path, body=body.encode() if isinstance(body, str) else body, headers=headers)
        r = conn.getresponse()
        return Response(r.status, r.read(), {k.lower(): v for k, v in r.getheaders()})
    finally:
        conn.close()


def post(url: str, payload, content_type: str = "application/json") -> Response:
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return request(url, "POST", body, content_type)


class Server:
    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"serve-{self.port}.log"
        base = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        full = {**base, "HOST": "127.0.0.1", "PORT": str(self.port), "PYTHONWARNINGS": "ignore", **env}
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(SERVE)], cwd=MODEL_DIR, env=full, stdout=log, stderr=subprocess.STDOUT
            )

    def log(self) -> str:
        return self.log_path.read_text()

    def wait(self, path: str, timeout: float = 90) -> Response:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                r = request(self.url + path, timeout=2)
                if r.status == 200:
                    return r
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{path} not 200 within {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def metrics(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = request(url + "/metrics")
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    out = {}
    for family in text_string_to_metric_families(r.body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def sample(m, metric: str, /, **labels) -> float:
    return m.get((metric, tuple(sorted(labels.items()))), 0.0)


def iris_model(n_estimators: int = 10):
    import pandas as pd
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    iris = load_iris()
    X = pd.DataFrame(iris.data, columns=FEATURES)
    y = np.asarray(CLASSES)[iris.target]
    return RandomForestClassifier(n_estimators=n_estimators, random_state=0, n_jobs=1).fit(X, y), X


def save_kwargs(model, X):
    from mlflow.models import infer_signature

    return {
        "signature": infer_signature(X.head(3), model.predict(X.head(3))),
        "skops_trusted_types": ["sklearn.tree._tree.Tree"],
        # Inferring requirements imports the model in a subprocess: slow, and not what is tested.
        "pip_requirements": ["scikit-learn"],
    }


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A small forest like train.py's (named features, class-name labels), saved as an MLflow model."""
    import mlflow.sklearn

    est, X = iris_model()
    path = tmp_path_factory.mktemp("model") / "iris"
    mlflow.sklearn.save_model(est, str(path), **save_kwargs(est, X))
    return est, path


@pytest.fixture(scope="module")
def server(model, mlflow_server, gated_server, tmp_path_factory):
    # Depends on the registry's processes only to start them early: their boots overlap these tests.
    _, path = model
    env = {
        "MODEL_URI": str(path),
        "MODEL_NAME": "iris",
        "MODEL_VERSION": "7",
        "MAX_ROWS": str(MAX_ROWS),
        "MAX_BODY_BYTES": str(MAX_BODY),
    }
    s = Server(env, tmp_path_factory.mktemp("serve"))
    try:
        s.wait("/readyz")
        yield s
    finally:
        s.stop()


def expected(est, rows) -> list[str]:
    import pandas as pd

    return est.predict(pd.DataFrame(rows, columns=FEATURES)).tolist()


# --- input formats -----------------------------------------------------------------------------


def records(rows, order=FEATURES):
    return [{name: row[FEATURES.index(name)] for name in order} for row in rows]


def test_predict_accepts_rows_records_and_a_single_object(server, model):
    est, _ = model
    want = expected(est, ROWS)
    assert len(set(want)) == 3  # the rows cover every class, so a mix-up would show
    r = post(server.url + "/predict", ROWS)
    assert (r.status, r.json()) == (200, {"predictions": want})
    assert r.headers["content-type"] == "application/json"
    shuffled = list(reversed(FEATURES))
    assert post(server.url + "/predict", records(ROWS, shuffled)).json() == {"predictions": want}
    assert post(server.url + "/predict", records(ROWS[2:3])[0]).json() == {"predictions": want[2:3]}
    # Integers are numbers too.
    assert post(server.url + "/predict", [[6, 3, 5, 2]]).json() == {"predictions": expected(est, [[6, 3, 5, 2]])}


def test_invocations_speaks_every_mlflow_input_format(server, model):
    est, _ = model
    want = {"predictions": expected(est, ROWS)}
    order = [2, 0, 3, 1]
    split_reordered = {"columns": [FEATURES[i] for i in order], "data": [[row[i] for i in order] for row in ROWS]}
    bodies = {
        "dataframe_split": {"dataframe_split": {"columns": FEATURES, "data": ROWS, "index": [0, 1, 2, 3]}},
        "dataframe_split reordered": {"dataframe_split": split_reordered},
        "dataframe_split without columns": {"dataframe_split": {"data": ROWS}},
        "dataframe_records": {"dataframe_records": records(ROWS, list(reversed(FEATURES)))},
        "instances rows": {"instances": ROWS},
        "instances records": {"instances": records(ROWS)},
        "inputs rows": {"inputs": ROWS},
        "inputs columns": {"inputs": {name: [row[i] for row in ROWS] for i, name in enumerate(FEATURES)}},
        "params are accepted": {"dataframe_split": {"columns": FEATURES, "data": ROWS}, "params": {}},
    }
    for label, body in bodies.items():
        r = post(server.url + "/invocations", body)
        assert (r.status, r.json()) == (200, want), label
    single = {"inputs": dict(zip(FEATURES, ROWS[0], strict=True))}
    assert post(server.url + "/invocations", single).json() == {"predictions": want["predictions"][:1]}
    csv = ",".join(FEATURES) + "\n" + "\n".join(",".join(map(str, row)) for row in ROWS) + "\n"
    r = post(server.url + "/invocations", csv, "text/csv")
    assert (r.status, r.json()) == (200, want)
    # /predict takes the MLflow shapes as well.
    assert post(server.url + "/predict", bodies["dataframe_records"]).json() == want


def test_concurrent_requests_each_get_their_own_predictions(server, model):
    """Requests are coalesced into shared model calls: every answer must still be its own."""
    from sklearn.datasets import load_iris

    est, _ = model
    data = load_iris().data
    rng = np.random.default_rng(1)
    picks = [data[rng.choice(len(data), size=int(rng.integers(1, MAX_ROWS + 1)))].tolist() for _ in range(120)]
    bad = [[r[0], r[1], "x", r[3]] for r in picks[0][:1]]

    def call(i: int):
        if i % 10 == 9:
            return i, post(server.url + "/predict", bad)
        return i, post(server.url + "/predict", picks[i])

    with ThreadPoolExecutor(max_workers=24) as pool:
        results = list(pool.map(call, range(len(picks))))
    for i, r in results:
        if i % 10 == 9:
            assert r.status == 400, r.body
        else:
            assert (r.status, r.json()) == (200, {"predictions": expected(est, picks[i])}), i


# --- bad requests ------------------------------------------------------------------------------

good = dict(zip(FEATURES, ROWS[0], strict=True))
BAD = [
    # (route, body, content type, status, reason label, words the message must contain)
    (
        "/predict",
        [{k: v for k, v in good.items() if k != "petal_width"}],
        None,
        400,
        "missing_feature",
        ["row 0", "missing features", "'petal_width'"],
    ),
    (
        "/predict",
        [{**{k: v for k, v in good.items() if k != "sepal_length"}, "sepal length": 5.0}],
        None,
        400,
        "missing_feature",
        ["'sepal_length'", "unknown: 'sepal length'"],
    ),
    (
        "/predict",
        [ROWS[0], [5.0, "3.1", 1.0, 0.2]],
        None,
        400,
        "wrong_type",
        ["row 1", "'sepal_width'", "expected a number, got string"],
    ),
    ("/predict", [[5.0, 3.0, True, 0.2]], None, 400, "wrong_type", ["'petal_length'", "got boolean"]),
    ("/predict", [{**good, "petal_width": None}], None, 400, "wrong_type", ["'petal_width'", "got null"]),
    ("/predict", [[5.0, 3.0, [1.0], 0.2]], None, 400, "wrong_type", ["got array"]),
    ("/predict", "[[5.0, NaN, 1.0, 0.2]]", None, 400, "non_finite", ["'sepal_width'", "not a finite number"]),
    ("/predict", "[[5.0, 3.0, Infinity, 0.2]]", None, 400, "non_finite", ["'petal_length'", "not a finite number"]),
    ("/predict", "[[1e999, 3.0, 1.0, 0.2]]", None, 400, "non_finite", ["'sepal_length'", "not a finite number"]),
    ("/predict", [[10**400, 3.0, 1.0, 0.2]], None, 400, "non_finite", ["too large"]),
    (
        "/predict",
        [ROWS[0]] * (MAX_ROWS + 1),
        None,
        400,
        "too_many_rows",
        [f"too many rows: {MAX_ROWS + 1}", f"maximum is {MAX_ROWS}"],
    ),
    ("/predict", [[5.0, 3.0, 1.0]], None, 400, "wrong_length", ["row 0", "expected 4 values", "got 3"]),
    ("/predict", [], None, 400, "no_rows", ["no rows"]),
    ("/predict", "[[5.0, 3.0,", None, 400, "invalid_json", ["not valid JSON"]),
    ("/predict", "", None, 400, "invalid_json", ["empty"]),
    ("/predict", b"\xff\xfe[]", None, 400, "invalid_json", ["UTF-8"]),
    ("/predict", "42", None, 400, "bad_format", ["expected a JSON array"]),
    ("/predict", [5.1, 3.5, 1.4, 0.2], None, 400, "bad_format", ["list of rows", "list of number"]),
    ("/predict", [ROWS[0], good], None, 400, "bad_format", ["row 1", "expected an array"]),
    (
        "/invocations",
        {"dataframe_split": {"columns": FEATURES[:3], "data": [ROWS[0][:3]]}},
        None,
        400,
        "missing_feature",
        ["'petal_width'"],
    ),
    (
        "/invocations",
        {"dataframe_split": {"columns": FEATURES, "data": "nope"}},
        None,
        400,
        "bad_format",
        ["dataframe_split.data"],
    ),
    ("/invocations", {"instances": ROWS, "inputs": ROWS}, None, 400, "bad_format", ["exactly one of"]),
    ("/invocations", {"rows": ROWS}, None, 400, "bad_format", ["exactly one of", "'rows'"]),
    ("/invocations", ROWS, None, 400, "bad_format", ["must be an object"]),
    (
        "/invocations",
        {"dataframe_records": [good, {**good, "sepal_width": "wide"}]},
        None,
        400,
        "wrong_type",
        ["row 1", "'sepal_width'"],
    ),
    (
        "/invocations",
        {"inputs": {**{k: [v, v] for k, v in good.items()}, "petal_width": [0.2]}},
        None,
        400,
        "wrong_length",
        ["same number of values"],
    ),
    ("/invocations", {"instances": [ROWS[0]] * (MAX_ROWS + 1)}, None, 400, "too_many_rows", ["too many rows"]),
    (
        "/invocations",
        ",".join(FEATURES) + "\n5.1,3.5,abc,0.2\n",
        "text/csv",
        400,
        "wrong_type",
        ["'petal_length'", "got string"],
    ),
    ("/invocations", "{}", "application/xml", 415, "unsupported_media_type", ["application/xml", "not supported"]),
    ("/predict", json.dumps([ROWS[0]] * 200), None, 413, "body_too_large", ["limit is", "MAX_BODY_BYTES"]),
]


@pytest.mark.parametrize("route,body,ctype,status,reason,words", BAD, ids=[f"{b[4]}-{i}" for i, b in enumerate(BAD)])
def test_bad_requests_get_a_clear_error(server, route, body, ctype, status, reason, words):
    before = metrics(server.url)
    r = post(
        server.url + route, body if isinstance(body, str | bytes) else json.dumps(body), ctype or "application/json"
    )
    assert r.status == status, r.body
    err = r.json()
    assert err["error_code"] == "BAD_REQUEST"
    for word in words:
        assert word in err["message"], (word, err["message"])
    after = metrics(server.url)
    assert (
        sample(after, "iris_input_errors_total", reason=reason)
        == sample(before, "iris_input_errors_total", reason=reason) + 1
    )
    assert (
        sample(after, "iris_requests_total", route=route, status=str(status))
        == sample(before, "iris_requests_total", route=route, status=str(status)) + 1
    )


def test_unknown_routes_and_methods(server):
    r = request(server.url + "/nope")
    assert r.status == 404 and "no route /nope" in r.json()["message"]
    r = request(server.url + "/predict")
    assert r.status == 405 and r.headers["allow"] == "POST"
    r = post(server.url + "/metrics", {})
    assert r.status == 405 and "GET" in r.headers["allow"]
    assert sample(metrics(server.url), "iris_requests_total", route="other", status="404") >= 1


def test_server_survives_a_burst_of_bad_requests(server):
    """Every bad body at once, concurrently with good ones: no 5xx, and the server still serves."""
    bodies = [(route, body, ctype) for route, body, ctype, *_ in BAD] * 3 + [("/predict", ROWS, None)] * 30

    def call(item):
        route, body, ctype = item
        payload = body if isinstance(body, str | bytes) else json.dumps(body)
        return post(server.url + route, payload, ctype or "application/json").status

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = Counter(pool.map(call, bodies))
    assert statuses[200] == 30
    assert all(status < 500 for status in statuses), statuses
    assert server.proc.poll() is None
    assert request(server.url + "/healthz").status == 200
    m = metrics(server.url)
    server_errors = {
        labels: value
        for (name, labels), value in m.items()
        if name == "iris_requests_total"
        and dict(labels)["status"].startswith("5")
        and dict(labels)["route"] != "/readyz"
    }
    assert server_errors == {}


def test_a_client_that_leaves_mid_body_is_not_answered_or_counted_as_bad(server):
    before = metrics(server.url)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as gone:
        gone.sendall(b"POST /predict HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n[[5.1, 3.5")
    time.sleep(0.5)
    assert request(server.url + "/healthz").status == 200
    after = metrics(server.url)
    for name, labels in after:
        if name in ("iris_requests_total", "iris_input_errors_total") and ("route", "/predict") in labels:
            assert after[(name, labels)] == before.get((name, labels), 0.0), labels
    assert sum(v for (n, _), v in after.items() if n == "iris_input_errors_total") == sum(
        v for (n, _), v in before.items() if n == "iris_input_errors_total"
    )


# --- metrics and probes ------------------------------------------------------------------------


def test_metrics_count_requests_latency_and_predicted_classes(server, model):
    est, _ = model
    before = metrics(server.url)
    rows = ROWS + ROWS[:1]
    want = Counter(expected(est, rows))
    for _ in range(3):
        assert post(server.url + "/predict", rows).status == 200
    assert post(server.url + "/invocations", {"inputs": rows}).status == 200
    after = metrics(server.url)

    def delta(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("iris_requests_total", route="/predict", status="200") == 3
    assert delta("iris_requests_total", route="/invocations", status="200") == 1
    assert delta("iris_request_duration_seconds_count", route="/predict") == 3
    assert delta("iris_request_duration_seconds_bucket", route="/predict", le="+Inf") == 3
    assert delta("iris_request_duration_seconds_sum", route="/predict") > 0
    for cls in CLASSES:
        assert delta("iris_predictions_total", **{"class": cls}) == 4 * want[cls], cls
    assert delta("iris_batch_rows_sum") == 4 * len(rows)
    digest = model_digest(str(model[1]))
    labels = {"name": "iris", "version": "7", "run_id": "", "digest": digest, "flavor": "sklearn"}
    assert sample(after, "iris_model_info", **labels) == 1
    assert sample(after, "iris_model_ready") == 1
    assert sample(after, "process_resident_memory_bytes") > 0


def test_probes_and_model_description(server, model):
    _, path = model
    assert request(server.url + "/healthz").json() == {"status": "ok"}
    ready = request(server.url + "/readyz").json()
    assert ready["status"] == "ready"
    info = ready["model"]
    assert (info["uri"], info["name"], info["version"]) == (str(path), "iris", "7")
    assert info["features"] == FEATURES and info["classes"] == CLASSES
    assert info["predictor"] == "RandomForestClassifier fast path"
    # MLflow's probe paths, for drop-in use.
    assert request(server.url + "/ping").status == 200
    assert request(server.url + "/health").status == 200


# --- start-up failures and configuration --------------------------------------------------------


def run_to_exit(env: dict[str, str], tmp: Path, timeout: float = 120) -> tuple[int, str]:
    s = Server(env, tmp)
    try:
        code = s.proc.wait(timeout)
    finally:
        s.stop()
    return code, s.log()


def test_missing_local_model_fails_start_up_clearly(tmp_path):
    code, log = run_to_exit({"MODEL_URI": str(tmp_path / "nowhere")}, tmp_path)
    assert code == 1
    assert f"could not load model {tmp_path / 'nowhere'}" in log and "no MLmodel file" in log


def test_settings_are_validated(tmp_path):
    code, log = run_to_exit({}, tmp_path)
    assert code == 2 and "MODEL_URI is required" in log
    code, log = run_to_exit({"MODEL_URI": str(tmp_path), "PORT": "http"}, tmp_path)
    assert code == 2 and "PORT must be an integer" in log
    code, log = run_to_exit({"MODEL_URI": str(tmp_path), "MAX_ROWS": "0"}, tmp_path)
    assert code == 2 and "MAX_ROWS must be >= 1" in log


def test_a_busy_port_fails_start_up_clearly(model, tmp_path):
    _, path = model
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        s = Server({"MODEL_URI": str(path), "PORT": str(busy.getsockname()[1])}, tmp_path)
        try:
            code = s.proc.wait(60)
        finally:
            s.stop()
    assert code == 3
    assert "address already in use" in s.log()


def test_pyfunc_models_without_sklearn_flavor_are_served(tmp_path):
    """Custom pyfunc models take the DataFrame path, still with validated, ordered columns."""
    import mlflow.pyfunc
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    class Widest(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input.idxmax(axis=1)

    path = tmp_path / "pyfunc"
    signature = ModelSignature(inputs=Schema([ColSpec("double", "a"), ColSpec("double", "b")]))
    mlflow.pyfunc.save_model(str(path), python_model=Widest(), signature=signature, pip_requirements=[])
    s = Server({"MODEL_URI": str(path)}, tmp_path)
    try:
        s.wait("/readyz")
        assert post(s.url + "/predict", [{"b": 2.0, "a": 1.0}, {"a": 3.0, "b": 0.5}]).json() == {
            "predictions": ["b", "a"]
        }
        assert post(s.url + "/predict", [[3.0, 0.5], [0.0, 1.0]]).json() == {"predictions": ["a", "b"]}
        assert post(s.url + "/predict", [{"a": 1.0}]).status == 400
        assert request(s.url + "/readyz").json()["model"]["flavor"] == "python_function"
    finally:
        s.stop()


# --- the registry: models:/name@alias, readiness while loading, SIGTERM --------------------------


class GatedProxy:
    """Forwards to the MLflow server, holding every request until ``open()``: a slow registry."""

    def __init__(self, upstream: str) -> None:
        self.gate = threading.Event()
        self.seen = threading.Event()
        target = urllib.parse.urlsplit(upstream)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def forward(self):
                proxy.seen.set()
                proxy.gate.wait()  # close() opens it too, so no handler outlives the test
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def open(self) -> None:
        self.gate.set()

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """Starts a real `mlflow server` without waiting for it: it boots while other tests run."""
    home = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = (home / "server.log").open("w")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{home / 'mlflow.db'}",
            "--serve-artifacts",
            "--artifacts-destination",
            str(home / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=home,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # The server's GenAI job runner (unused here) would start seven worker processes.
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        },
    )
    try:
        yield proc, f"http://127.0.0.1:{port}", home / "server.log"
    finally:
        # The store is a throw-away temp dir: no need to wait for a graceful stop.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        log.close()


@pytest.fixture(scope="module")
def gated_server(mlflow_server, tmp_path_factory):
    """Our server on models:/iris-serve-test@champion behind a gated proxy, started early: its
    start-up overlaps the registration, and it stays unready until the test opens the gate."""
    _, url, _ = mlflow_server
    proxy = GatedProxy(url)
    s = Server(
        # A long client timeout: the first registry call may wait at the gate through other tests.
        {
            "MODEL_URI": "models:/iris-serve-test@champion",
            "MLFLOW_TRACKING_URI": proxy.url,
            "MLFLOW_HTTP_REQUEST_TIMEOUT": "900",
        },
        tmp_path_factory.mktemp("gated"),
    )
    try:
        yield s, proxy
    finally:
        s.stop()
        proxy.close()


@pytest.fixture(scope="module")
def registry(mlflow_server, gated_server, tmp_path_factory):
    """The model registered on the real MLflow server as iris-serve-test@champion."""
    import mlflow
    import mlflow.sklearn

    proc, url, log = mlflow_server
    deadline = time.monotonic() + 120
    while True:
        try:
            if request(url + "/health", timeout=2).status == 200:
                break
        except OSError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.25)
    # Started now so its start-up overlaps the registration; it fails whatever the registry holds.
    unknown = Server(
        {"MODEL_URI": "models:/iris-serve-test@nope", "MLFLOW_TRACKING_URI": url}, tmp_path_factory.mktemp("unknown")
    )
    mlflow.set_tracking_uri(url)
    try:
        est, X = iris_model(n_estimators=5)
        with mlflow.start_run() as run:
            info = mlflow.sklearn.log_model(
                est, name="model", registered_model_name="iris-serve-test", **save_kwargs(est, X)
            )
        version = str(info.registered_model_version)
        mlflow.MlflowClient(url).set_registered_model_alias("iris-serve-test", "champion", version)
    finally:
        mlflow.set_tracking_uri(None)
    try:
        yield {"url": url, "version": version, "run_id": run.info.run_id, "model": est, "unknown": unknown}
    finally:
        unknown.stop()


def test_registry_alias_readiness_and_graceful_shutdown(registry, gated_server):
    s, proxy = gated_server
    try:
        # Alive at once, not ready while the registry has not answered.
        s.wait("/healthz")
        assert proxy.seen.wait(60), s.log()
        r = request(s.url + "/readyz")
        assert (r.status, r.json()) == (503, {"status": "loading"})
        r = post(s.url + "/predict", ROWS)
        assert r.status == 503 and r.json()["error_code"] == "NOT_READY"
        assert sample(metrics(s.url), "iris_model_ready") == 0

        proxy.open()
        info = s.wait("/readyz").json()["model"]
        assert (info["name"], info["version"], info["run_id"]) == (
            "iris-serve-test",
            registry["version"],
            registry["run_id"],
        )
        want = expected(registry["model"], ROWS)
        assert post(s.url + "/predict", ROWS).json() == {"predictions": want}
        m = metrics(s.url)
        assert (
            sample(
                m,
                "iris_model_info",
                name="iris-serve-test",
                version=registry["version"],
                run_id=registry["run_id"],
                digest=info["digest"],
                flavor="sklearn",
            )
            == 1
        )
        assert sample(m, "iris_model_ready") == 1

        # SIGTERM with an idle keep-alive connection and a request in flight (half its body sent):
        # the request is finished, then the process exits 0, promptly.
        idle = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
        idle.request("GET", "/healthz")
        idle.getresponse().read()
        body = json.dumps(ROWS[:1]).encode()
        inflight = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        inflight.sendall(
            b"POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body[:5]
        )
        time.sleep(1.0)  # the server has read the headers: the request is in flight
        started = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert s.proc.poll() is None, "exited with a request in flight"
        inflight.sendall(body[5:])
        answer = b""
        while chunk := inflight.recv(65536):
            answer += chunk
        inflight.close()
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), answer
        assert json.loads(payload) == {"predictions": expected(registry["model"], ROWS[:1])}
        assert s.proc.wait(10) == 0, s.log()
        assert time.monotonic() - started < 10
        assert "shut down cleanly" in s.log()
        idle.close()
    finally:
        s.stop()


def test_unknown_registered_model_fails_start_up_clearly(registry):
    unknown = registry["unknown"]
    code = unknown.proc.wait(120)
    log = unknown.log()
    assert code == 1, log
    assert "could not load model models:/iris-serve-test@nope" in log
