#!/usr/bin/env python3
"""Backup and restore of an MLflow server's sqlite tracking store and artifact tree.

backup:  copies the store with sqlite's online backup API (consistent while the server writes),
         adds the artifact tree and a MANIFEST.json of every file's SHA-256 into
         <dest>/mlflow-backup-<UTC timestamp>.tar.gz, written beside as .partial and renamed when
         complete, with <archive>.sha256 next to it; keeps the newest --keep archives.
restore: refuses an archive whose .sha256 or any manifest entry does not match, or whose store
         fails sqlite's integrity check, before it touches the target; then puts mlflow.db and
         artifacts/ into the (empty, or --force) target directory for a fresh `mlflow server`.

Standard library only, so it runs in the MLflow image as it is.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tarfile
import tempfile
from pathlib import Path

FORMAT = 1
PREFIX = "mlflow-backup-"
SUFFIX = ".tar.gz"


class BackupError(Exception):
    pass


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def copy_store(db: Path, out: Path) -> None:
    if not db.is_file():
        raise BackupError(f"--db: {db} is not a file (expected the server's sqlite store, mlflow.db)")
    # Read-only: the backup never writes to the live store (and works on a read-only mount).
    src = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60)
    dst = sqlite3.connect(out)
    try:
        # Pages copied in steps; a write by the server between steps restarts the copy, so the
        # result is always one consistent snapshot.
        src.backup(dst, pages=1024)
    finally:
        dst.close()
        src.close()


def backup(db: Path, artifacts: Path, dest: Path, keep: int) -> Path:
    if not artifacts.is_dir():
        raise BackupError(f"--artifacts: {artifacts} is not a directory (expected --artifacts-destination)")
    dest.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    archive = dest / f"{PREFIX}{stamp}{SUFFIX}"
    with tempfile.TemporaryDirectory(dir=dest, prefix=".staging-") as tmp:
        store = Path(tmp) / "mlflow.db"
        copy_store(db, store)
        files = {"mlflow.db": sha256(store)}
        for path in sorted(p for p in artifacts.rglob("*") if p.is_file()):
            files[f"artifacts/{path.relative_to(artifacts).as_posix()}"] = sha256(path)
        manifest = {"format": FORMAT, "created": stamp, "files": files}
        manifest_path = Path(tmp) / "MANIFEST.json"
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
        partial = archive.with_name(archive.name + ".partial")
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(manifest_path, "MANIFEST.json")
            tar.add(store, "mlflow.db")
            tar.add(artifacts, "artifacts")
        digest = sha256(partial)
        os.replace(partial, archive)
    archive.with_name(archive.name + ".sha256").write_text(f"{digest}  {archive.name}\n")
    prune(dest, keep)
    return archive


def prune(dest: Path, keep: int) -> None:
    archives = sorted(dest.glob(f"{PREFIX}*{SUFFIX}"))
    for old in archives[: max(0, len(archives) - keep)]:
        old.unlink()
        old.with_name(old.name + ".sha256").unlink(missing_ok=True)


def verify_archive(archive: Path) -> None:
    if not archive.is_file():
        raise BackupError(f"archive {archive} does not exist")
    sidecar = archive.with_name(archive.name + ".sha256")
    if not sidecar.is_file():
        raise BackupError(f"archive {archive.name}: no checksum file {sidecar.name} beside it")
    expected = sidecar.read_text().split()[0] if sidecar.read_text().split() else ""
    actual = sha256(archive)
    if actual != expected:
        raise BackupError(
            f"archive {archive.name} is corrupted: SHA-256 {actual} does not match {expected} in {sidecar.name}"
        )


def extract_verified(archive: Path, into: Path) -> None:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            # 'data' filter: no absolute paths, no '..', no links out, no device files.
            if hasattr(tarfile, "data_filter"):
                tar.extractall(into, filter="data")
            else:  # Python before 3.11.4: the same refusal, by hand.
                for m in tar.getmembers():
                    if not (m.isfile() or m.isdir()) or m.name.startswith("/") or ".." in Path(m.name).parts:
                        raise BackupError(f"archive {archive.name}: unsafe member {m.name!r}")
                tar.extractall(into)
    except (tarfile.TarError, OSError, EOFError) as err:
        raise BackupError(f"archive {archive.name} cannot be read: {err}") from err
    manifest_path = into / "MANIFEST.json"
    if not manifest_path.is_file():
        raise BackupError(f"archive {archive.name} has no MANIFEST.json: not an MLflow backup")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"archive {archive.name}: manifest format {manifest.get('format')!r}, expected {FORMAT}")
    files: dict[str, str] = manifest["files"]
    present = {p.relative_to(into).as_posix() for p in into.rglob("*") if p.is_file()} - {"MANIFEST.json"}
    if present != set(files):
        missing, extra = sorted(set(files) - present), sorted(present - set(files))
        raise BackupError(f"archive {archive.name} does not match its manifest: missing {missing}, unlisted {extra}")
    for name, digest in files.items():
        if sha256(into / name) != digest:
            raise BackupError(f"archive {archive.name}: {name} does not match its SHA-256 in the manifest")
    con = sqlite3.connect(into / "mlflow.db")
    try:
        result = con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()
    if result != "ok":
        raise BackupError(f"archive {archive.name}: mlflow.db fails sqlite's integrity check: {result}")


def restore(archive: Path, target: Path, force: bool) -> None:
    verify_archive(archive)
    target.mkdir(parents=True, exist_ok=True)
    existing = [p.name for p in target.iterdir() if p.name in ("mlflow.db", "artifacts")]
    if existing and not force:
        raise BackupError(
            f"--target {target} already has {', '.join(sorted(existing))}: stop the server and pass --force to replace them"
        )
    with tempfile.TemporaryDirectory(dir=target, prefix=".restore-") as tmp:
        extract_verified(archive, Path(tmp))
        # Only now, with everything verified, replace what the target had.
        for name in ("mlflow.db", "mlflow.db-journal", "mlflow.db-wal", "mlflow.db-shm"):
            (target / name).unlink(missing_ok=True)
        shutil.rmtree(target / "artifacts", ignore_errors=True)
        os.replace(Path(tmp) / "mlflow.db", target / "mlflow.db")
        os.replace(Path(tmp) / "artifacts", target / "artifacts")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("backup", help="write a checksummed archive of the store and artifacts")
    b.add_argument("--db", type=Path, required=True, help="the sqlite store (mlflow.db)")
    b.add_argument("--artifacts", type=Path, required=True, help="the --artifacts-destination directory")
    b.add_argument("--dest", type=Path, required=True, help="directory for archives (a second volume)")
    b.add_argument("--keep", type=int, default=14, help="archives to keep (default 14)")
    r = sub.add_parser("restore", help="verify an archive and restore it into a server directory")
    r.add_argument("--archive", type=Path, required=True)
    r.add_argument("--target", type=Path, required=True, help="gets mlflow.db and artifacts/")
    r.add_argument("--force", action="store_true", help="replace an existing store in --target")
    args = parser.parse_args(argv)
    try:
        if args.command == "backup":
            if args.keep < 1:
                raise BackupError(f"--keep: {args.keep}, expected a whole number of at least 1")
            print(backup(args.db, args.artifacts, args.dest, args.keep))
        else:
            restore(args.archive, args.target, args.force)
            print(f"restored {args.archive.name} into {args.target}")
    except BackupError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
