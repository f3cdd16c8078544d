"""The serving image's mode: the model baked into a directory, described by the image's labels
(MODEL_NAME, MODEL_VERSION, MODEL_RUN_ID, MODEL_DIGEST), served with MLflow out of reach."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading

import pytest

from iris_server.digest import main as digest_main
from iris_server.digest import model_digest
from test_serve import ROWS, Server, expected, iris_model, metrics, post, run_to_exit, sample, save_kwargs


class CountingListener:
    """A port that accepts connections and counts them: where MLFLOW_TRACKING_URI points, so a
    server that called MLflow at start-up would be seen doing it (and would get no answer)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def baked(tmp_path_factory):
    """An MLflow model saved where the image puts it, and its digest."""
    import mlflow.sklearn

    est, X = iris_model()
    root = tmp_path_factory.mktemp("app") / "model"
    mlflow.sklearn.save_model(est, str(root), **save_kwargs(est, X))
    return est, root, model_digest(str(root))


def test_digest_is_the_coreutils_recipe_and_follows_every_byte(baked, tmp_path):
    _, root, digest = baked
    shell = subprocess.run(
        "find . -type f -printf '%P\\0' | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum",
        shell=True,
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    assert digest == "sha256:" + shell.stdout.split()[0]
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    assert model_digest(str(copy)) == digest  # where it lies does not matter
    (copy / "MLmodel").write_bytes((copy / "MLmodel").read_bytes() + b"\n")
    assert model_digest(str(copy)) != digest
    shutil.copytree(root, tmp_path / "renamed")
    (tmp_path / "renamed" / "MLmodel").rename(tmp_path / "renamed" / "MLmodel.txt")
    assert model_digest(str(tmp_path / "renamed")) != digest
    assert digest_main([str(root), "--expect", digest]) == 0
    assert digest_main([str(copy), "--expect", digest]) == 1


def test_serves_the_baked_model_without_mlflow_and_reports_its_labels(baked, tmp_path):
    est, root, digest = baked
    mlflow = CountingListener()
    run_id = "0123456789abcdef0123456789abcdef"
    s = Server(
        {
            "MODEL_URI": str(root),
            "MODEL_NAME": "iris",
            "MODEL_VERSION": "12",
            "MODEL_RUN_ID": run_id,
            "MODEL_DIGEST": digest,
            "MLFLOW_TRACKING_URI": mlflow.url,
        },
        tmp_path,
    )
    try:
        info = s.wait("/readyz").json()["model"]
        assert (info["name"], info["version"], info["run_id"], info["digest"]) == ("iris", "12", run_id, digest)
        assert post(s.url + "/predict", ROWS).json() == {"predictions": expected(est, ROWS)}
        m = metrics(s.url)
        labels = {"name": "iris", "version": "12", "run_id": run_id, "digest": digest, "flavor": "sklearn"}
        assert sample(m, "iris_model_info", **labels) == 1
        assert digest in s.log()
        assert mlflow.connections == 0
    finally:
        s.stop()
        mlflow.close()


def test_a_model_that_is_not_the_one_recorded_is_refused(baked, tmp_path):
    _, root, digest = baked
    other = "sha256:" + "0" * 64
    code, log = run_to_exit({"MODEL_URI": str(root), "MODEL_DIGEST": other}, tmp_path)
    assert code == 1, log
    assert f"hash to {digest}, not to MODEL_DIGEST {other}" in log
    code, log = run_to_exit({"MODEL_URI": str(root), "MODEL_DIGEST": "md5:abc"}, tmp_path)
    assert code == 2 and "MODEL_DIGEST must be sha256:" in log
