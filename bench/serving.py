#!/usr/bin/env python3
"""Serving benchmark: our inference server against `mlflow models serve`, same model, same load.

One run:
  1. starts a real `mlflow server` (sqlite, --serve-artifacts) on a free loopback port;
  2. trains the iris model with model/train.py's own training code, logs it to a run, registers it
     as `iris` and points the `champion` alias at it;
  3. serves that version as each side deploys it: ours as the serving image does, from the
     registered version downloaded into a directory (`models:/iris/<version>`, what download-model
     puts into the image's /app/model) with its MODEL_* labels and digest, no MLflow at start-up;
     and `mlflow models serve -m models:/iris@champion --env-manager local` (its default: 1 worker)
     as users run it, from the registry;
  4. in alternating rounds, loads one server at a time with autocannon (POST /invocations,
     MLflow's dataframe_split body, one row) at the same concurrency and duration, after a warm-up;
  5. prints requests/s and p99 of the median round of each and the ratios (ours / mlflow).

On a machine with two or more cores the servers and autocannon are pinned to different cores
(taskset), so each server has one core, which is also what a `cpu: 1` limit gives the pod.

    .venv/bin/python bench/serving.py [--concurrency 32] [--duration 10] [--rounds 3] [--check]

--check exits 1 unless ours reaches >= 10x the throughput at <= 0.2x the p99 (the targets).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = VENV_BIN / "python" if (VENV_BIN / "python").exists() else Path(sys.executable)
AUTOCANNON = ROOT / "node_modules" / ".bin" / "autocannon"
NODE_BIN = ROOT / "node_modules" / ".bin"
MODEL_NAME = "iris"
ALIAS = "champion"
TARGET_THROUGHPUT_RATIO = 10.0
TARGET_P99_RATIO = 0.2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text()[-3000:] if log else ""
            raise RuntimeError(f"{url}: the process exited with {proc.returncode} before it was ready\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    tail = log.read_text()[-3000:] if log else ""
    raise RuntimeError(f"{url} was not ready within {timeout:.0f}s\n{tail}")


def cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return []


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    if cpu is None or not shutil.which("taskset"):
        return cmd
    return ["taskset", "-c", str(cpu), *cmd]


@contextmanager
def started(cmd: list[str], env: dict[str, str], log: Path, cwd: Path | None = None):
    """Runs cmd in its own process group (mlflow serve forks uvicorn) and always stops the group."""
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        try:  # children left in the group (uvicorn workers)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def register_model(tracking_uri: str, workdir: Path) -> dict[str, str]:
    """Trains with model/train.py's code, logs, registers and aliases: the model the project ships."""
    code = f"""
import json, sys
sys.path.insert(0, {str(ROOT / "model")!r})
import mlflow, train
mlflow.set_tracking_uri({tracking_uri!r})
args = train.parse_args(["--output-dir", {str(workdir)!r}])
model, X_train, metrics, params = train.train(args)
mlflow.set_experiment("serving-benchmark")
with mlflow.start_run() as run:
    info = mlflow.sklearn.log_model(model, name="model", registered_model_name={MODEL_NAME!r},
                                    **train.model_kwargs(model, X_train))
client = mlflow.MlflowClient()
version = info.registered_model_version
client.set_registered_model_alias({MODEL_NAME!r}, {ALIAS!r}, version)
row = X_train.head(1)
print(json.dumps({{"version": str(version), "run_id": run.info.run_id,
                   "columns": list(row.columns), "row": [float(v) for v in row.iloc[0]],
                   "model": type(model).__name__, "n_estimators": getattr(model, "n_estimators", None)}}))
"""
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([str(PYTHON), "-c", code], env=env, capture_output=True, text=True, cwd=workdir)
    if out.returncode != 0:
        raise RuntimeError(f"training/registering the model failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def download_model(tracking_uri: str, version: str, dest: Path) -> str:
    """The version's files into `dest`, as download-model puts them into the image; returns their digest."""
    code = f"""
import os, sys
sys.path.insert(0, {str(ROOT / "model")!r})
import mlflow
from iris_server.digest import model_digest
mlflow.set_tracking_uri({tracking_uri!r})
mlflow.artifacts.download_artifacts("models:/{MODEL_NAME}/{version}", dst_path={str(dest)!r})
# Written by MLflow's client, not part of the model (download-model does not write it).
meta = os.path.join({str(dest)!r}, "registered_model_meta")
if os.path.exists(meta):
    os.remove(meta)
print(model_digest({str(dest)!r}))
"""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([str(PYTHON), "-c", code], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"downloading models:/{MODEL_NAME}/{version} failed:\n{out.stderr[-3000:]}")
    return out.stdout.strip().splitlines()[-1]


def autocannon(url: str, body: Path, concurrency: int, duration: int, cpu: int | None) -> dict:
    cmd = pinned(
        [
            str(AUTOCANNON),
            "--json",
            "-c",
            str(concurrency),
            "-d",
            str(duration),
            "-m",
            "POST",
            "-H",
            "content-type=application/json",
            "-i",
            str(body),
            url,
        ],
        cpu,
    )
    env = {**os.environ, "PATH": f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=duration + 60)
    if out.returncode != 0:
        raise RuntimeError(f"autocannon failed ({out.returncode}): {out.stderr[-2000:]}")
    result = json.loads(out.stdout)
    seconds = float(result.get("duration") or duration)
    return {
        "requests": int(result["requests"]["total"]),
        "rps": result["requests"]["total"] / seconds,
        "p50_ms": float(result["latency"]["p50"]),
        "p99_ms": float(result["latency"]["p99"]),
        "max_ms": float(result["latency"]["max"]),
        "errors": int(result.get("errors", 0)) + int(result.get("timeouts", 0)),
        "non2xx": int(result.get("non2xx", 0)),
    }


def measure(name: str, url: str, body: Path, args: argparse.Namespace, cpu: int | None) -> dict:
    print(f"{name}: warming up {args.warmup}s", flush=True)
    autocannon(url, body, args.concurrency, args.warmup, cpu)
    print(f"{name}: {args.concurrency} connections for {args.duration}s", flush=True)
    result = autocannon(url, body, args.concurrency, args.duration, cpu)
    if result["errors"] or result["non2xx"]:
        raise RuntimeError(f"{name}: {result['errors']} errors and {result['non2xx']} non-2xx responses: {result}")
    print(f"{name}: {result['rps']:.0f} req/s, p99 {result['p99_ms']:.1f} ms", flush=True)
    return result


def median_round(rounds: list[dict]) -> dict:
    """The round with the median throughput (its own p99 with it, not a mix of rounds)."""
    ordered = sorted(rounds, key=lambda r: r["rps"])
    return ordered[(len(ordered) - 1) // 2]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=32, help="connections (default 32)")
    parser.add_argument("--duration", type=int, default=10, help="seconds of measured load per round (default 10)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds per server; the median counts (default 3)"
    )
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unmeasured load first (default 3)")
    parser.add_argument("--json", dest="json_out", help="also write the results to this file")
    parser.add_argument("--check", action="store_true", help="exit 1 unless both targets are met")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, model)")
    args = parser.parse_args(argv)
    for name in ("concurrency", "duration", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if not AUTOCANNON.exists():
        parser.error(f"{AUTOCANNON} is missing: run scripts/setup")
    return args


def mlflow_server_cmd(work: Path, port: int) -> list[str]:
    """The registry: sqlite store and served artifacts under `work`, one worker."""
    return [
        str(VENV_BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{work / 'mlflow.db'}",
        "--serve-artifacts",
        "--artifacts-destination",
        str(work / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]


def ours_env(env: dict[str, str], model_dir: Path, model: dict[str, str], digest: str, port: int) -> dict[str, str]:
    """The image's environment (model/Dockerfile): the directory and its labels, no registry."""
    out = {k: v for k, v in env.items() if not k.startswith("MLFLOW_")}
    out.update(
        MODEL_URI=str(model_dir),
        MODEL_NAME=MODEL_NAME,
        MODEL_VERSION=model["version"],
        MODEL_RUN_ID=model["run_id"],
        MODEL_DIGEST=digest,
        PORT=str(port),
        HOST="127.0.0.1",
    )
    return out


def mlflow_serve_cmd(uri: str, port: int, cpu: int | None) -> list[str]:
    """`mlflow models serve` as users run it: from the registry, its defaults (1 worker)."""
    return pinned(
        [
            str(VENV_BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            uri,
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cpu,
    )


def serve_and_measure(
    work: Path,
    env: dict[str, str],
    tracking_uri: str,
    model: dict[str, str],
    model_dir: Path,
    digest: str,
    args: argparse.Namespace,
    cores: tuple[int | None, int | None],
) -> dict[str, list[dict]]:
    """Starts both servers, checks ours serves the downloaded version, and runs the alternating rounds.

    `cores` is (the load generator's core, the servers' core), None for unpinned.
    """
    gen_cpu, server_cpu = cores
    uri = f"models:/{MODEL_NAME}@{ALIAS}"
    body = work / "body.json"
    body.write_text(json.dumps({"dataframe_split": {"columns": model["columns"], "data": [model["row"]]}}))
    serve_env = {**env, "MLFLOW_TRACKING_URI": tracking_uri}
    ours_port, theirs_port = free_port(), free_port()
    ours_cmd = pinned([str(PYTHON), str(ROOT / "model" / "serve.py")], server_cpu)
    mlflow_cmd = mlflow_serve_cmd(uri, theirs_port, server_cpu)
    # Both stay up and idle between their turns; the rounds alternate so that a change in
    # the machine's background load falls on both alike.
    with (
        started(ours_cmd, ours_env(env, model_dir, model, digest, ours_port), work / "ours.log") as ours,
        started(mlflow_cmd, serve_env, work / "mlflow-serve.log") as theirs,
    ):
        wait_http(f"http://127.0.0.1:{ours_port}/readyz", 180, ours, work / "ours.log")
        with urllib.request.urlopen(f"http://127.0.0.1:{ours_port}/readyz", timeout=5) as r:
            served = json.load(r)["model"]
        if (served.get("version"), served.get("digest")) != (model["version"], digest):
            raise RuntimeError(f"ours serves {served}, not v{model['version']} ({digest})")
        wait_http(f"http://127.0.0.1:{theirs_port}/ping", 180, theirs, work / "mlflow-serve.log")
        rounds: dict[str, list[dict]] = {"ours": [], "mlflow": []}
        for i in range(args.rounds):
            tag = f" (round {i + 1}/{args.rounds})" if args.rounds > 1 else ""
            rounds["ours"].append(
                measure(f"ours{tag}", f"http://127.0.0.1:{ours_port}/invocations", body, args, gen_cpu)
            )
            rounds["mlflow"].append(
                measure(
                    f"mlflow models serve{tag}",
                    f"http://127.0.0.1:{theirs_port}/invocations",
                    body,
                    args,
                    gen_cpu,
                )
            )
    return rounds


def run_benchmark(
    work: Path, env: dict[str, str], args: argparse.Namespace, cores: tuple[int | None, int | None], results: dict
) -> None:
    """The registry up, the model trained, registered and downloaded, then both servers measured."""
    mlflow_port = free_port()
    tracking_uri = f"http://127.0.0.1:{mlflow_port}"
    print(f"starting mlflow server on {tracking_uri}", flush=True)
    # Its GenAI job runner (unused here) would start seven worker processes beside the servers.
    registry_env = {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server_cmd = mlflow_server_cmd(work, mlflow_port)
    with started(server_cmd, registry_env, work / "mlflow-server.log", cwd=work) as registry:
        wait_http(f"{tracking_uri}/health", 120, registry, work / "mlflow-server.log")
        model = register_model(tracking_uri, work)
        uri = f"models:/{MODEL_NAME}@{ALIAS}"
        print(f"registered {uri} -> version {model['version']} ({model['model']}, run {model['run_id']})", flush=True)
        model_dir = work / "registered-model"
        digest = download_model(tracking_uri, model["version"], model_dir)
        print(f"downloaded models:/{MODEL_NAME}/{model['version']} into {model_dir} ({digest})", flush=True)
        results["model"] = {"uri": uri, "dir": str(model_dir), "digest": digest, **model}
        rounds = serve_and_measure(work, env, tracking_uri, model, model_dir, digest, args, cores)
        results["rounds"] = rounds
        results["ours"] = median_round(rounds["ours"])
        results["mlflow"] = median_round(rounds["mlflow"])


def report(results: dict, args: argparse.Namespace, ncpus: int) -> bool:
    """Adds the ratios to `results`, prints the table; returns whether both targets are met."""
    ours, theirs = results["ours"], results["mlflow"]
    throughput_ratio = ours["rps"] / theirs["rps"]
    p99_ratio = ours["p99_ms"] / theirs["p99_ms"] if theirs["p99_ms"] > 0 else float("inf")
    results["ratios"] = {"throughput": throughput_ratio, "p99": p99_ratio}
    met = throughput_ratio >= TARGET_THROUGHPUT_RATIO and p99_ratio <= TARGET_P99_RATIO
    results["targets_met"] = met

    print()
    print(
        f"model {MODEL_NAME} v{results['model']['version']} ({results['model']['model']}): ours from its directory, "
        f"mlflow models serve from {results['model']['uri']}; POST /invocations dataframe_split, 1 row"
    )
    print(
        f"autocannon, {args.concurrency} connections, {args.rounds} x {args.duration}s per server "
        f"(median round shown), {ncpus} CPUs"
    )
    print(f"{'server':<22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'requests':>11}")
    for label, r in (("ours (model/serve.py)", ours), ("mlflow models serve", theirs)):
        print(f"{label:<22}{r['rps']:>10.0f}{r['p50_ms']:>10.1f}{r['p99_ms']:>10.1f}{r['requests']:>11}")
    print(
        f"ratios: throughput {throughput_ratio:.1f}x (target >= {TARGET_THROUGHPUT_RATIO:g}x), "
        f"p99 {p99_ratio:.3f}x (target <= {TARGET_P99_RATIO:g}x): {'met' if met else 'NOT met'}"
    )
    return met


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    available = cpus()
    # Load generator on the first core, servers on the second, when there are two.
    gen_cpu, server_cpu = (available[0], available[1]) if len(available) >= 2 else (None, None)
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONWARNINGS": "ignore"}
    env.pop("MLFLOW_RUN_ID", None)
    results: dict = {"concurrency": args.concurrency, "duration_s": args.duration, "cpus": len(available)}
    try:
        run_benchmark(work, env, args, (gen_cpu, server_cpu), results)
    finally:
        if args.keep:
            print(f"kept {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)

    met = report(results, args, len(available))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
