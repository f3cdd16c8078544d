#!/usr/bin/env python3
"""Backup and restore of an MLflow server's tracking store (sqlite or PostgreSQL) and artifact tree.

backup:  copies the store, consistent while the server writes: sqlite with its online backup API
         (--db), PostgreSQL with `pg_dump --format=custom` (--postgres, one snapshot transaction);
         adds the artifact tree and a MANIFEST.json of every file's SHA-256 into
         <dest>/mlflow-backup-<UTC timestamp>.tar.gz, written beside as .partial and renamed when
         complete, with <archive>.sha256 next to it; keeps the newest --keep archives.
restore: refuses an archive whose .sha256 or any manifest entry does not match, or whose store
         fails its check (sqlite's integrity check; `pg_restore --list` for a dump), before it
         touches the target; then puts artifacts/ (and a sqlite store's mlflow.db) into the (empty,
         or --force) target directory, and a dump into the (empty, or --force) --postgres database
         with pg_restore, for a fresh `mlflow server`.

PostgreSQL connections: --postgres takes a libpq connection string or URI without the password;
the password comes from PGPASSWORD or ~/.pgpass, so it never appears in argv or a process list.
Standard library only (plus pg_dump, pg_restore, psql for PostgreSQL).
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

FORMAT = 1
# The store's file in the archive, by kind ("store" in the manifest; archives without it are sqlite).
STORE_FILES = {"sqlite": "mlflow.db", "postgresql": "mlflow.pgdump"}
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


def check_conninfo(conninfo: str) -> str:
    """A libpq connection string or URI, refused when it carries a password (argv is public)."""
    if not conninfo.strip():
        raise BackupError("--postgres: empty, expected a libpq connection string such as 'host=db dbname=mlflow user=mlflow'")
    if re.search(r"(^|\s)password\s*=", conninfo) or re.match(r"^postgres(ql)?://[^/@]*:[^/@]*@", conninfo):
        raise BackupError("--postgres: contains a password; put it in PGPASSWORD or ~/.pgpass instead")
    return conninfo


def pg_tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise BackupError(f"{name} not found on PATH (PostgreSQL client tools, e.g. Debian's postgresql-client)")
    return path


def run_pg(args: list[str], what: str) -> str:
    # --no-password everywhere: a job must fail, not wait for a prompt, when no password is set.
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BackupError(f"{what} failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def dump_postgres(conninfo: str, out: Path) -> None:
    # pg_dump reads one snapshot (a repeatable-read transaction): consistent while MLflow writes.
    run_pg(
        [pg_tool("pg_dump"), "--format=custom", "--no-password", f"--dbname={conninfo}", f"--file={out}"],
        "pg_dump",
    )


def backup(store: tuple[str, str], artifacts: Path, dest: Path, keep: int) -> Path:
    kind, source = store
    if not artifacts.is_dir():
        raise BackupError(f"--artifacts: {artifacts} is not a directory (expected --artifacts-destination)")
    dest.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    archive = dest / f"{PREFIX}{stamp}{SUFFIX}"
    with tempfile.TemporaryDirectory(dir=dest, prefix=".staging-") as tmp:
        store_name = STORE_FILES[kind]
        store_path = Path(tmp) / store_name
        # The store first, then the artifacts: every run in the snapshot has its files in the tree.
        if kind == "sqlite":
            copy_store(Path(source), store_path)
        else:
            dump_postgres(source, store_path)
        files = {store_name: sha256(store_path)}
        for path in sorted(p for p in artifacts.rglob("*") if p.is_file()):
            files[f"artifacts/{path.relative_to(artifacts).as_posix()}"] = sha256(path)
        manifest = {"format": FORMAT, "created": stamp, "store": kind, "files": files}
        manifest_path = Path(tmp) / "MANIFEST.json"
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
        partial = archive.with_name(archive.name + ".partial")
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(manifest_path, "MANIFEST.json")
            tar.add(store_path, store_name)
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


def extract_verified(archive: Path, into: Path) -> str:
    """Extracts and checks everything; returns the store's kind ("sqlite" or "postgresql")."""
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
    kind = manifest.get("store", "sqlite")
    if kind not in STORE_FILES:
        raise BackupError(f"archive {archive.name}: store {kind!r}, expected one of {sorted(STORE_FILES)}")
    files: dict[str, str] = manifest["files"]
    present = {p.relative_to(into).as_posix() for p in into.rglob("*") if p.is_file()} - {"MANIFEST.json"}
    if present != set(files) or STORE_FILES[kind] not in files:
        missing, extra = sorted(set(files) - present), sorted(present - set(files))
        raise BackupError(f"archive {archive.name} does not match its manifest: missing {missing}, unlisted {extra}")
    for name, digest in files.items():
        if sha256(into / name) != digest:
            raise BackupError(f"archive {archive.name}: {name} does not match its SHA-256 in the manifest")
    (check_sqlite if kind == "sqlite" else check_dump)(archive, into / STORE_FILES[kind])
    return kind


def check_sqlite(archive: Path, db: Path) -> None:
    con = sqlite3.connect(db)
    try:
        result = con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()
    if result != "ok":
        raise BackupError(f"archive {archive.name}: mlflow.db fails sqlite's integrity check: {result}")


def check_dump(archive: Path, dump: Path) -> None:
    try:
        run_pg([pg_tool("pg_restore"), "--list", str(dump)], "pg_restore --list")
    except BackupError as err:
        raise BackupError(f"archive {archive.name}: mlflow.pgdump is not a readable pg_dump archive: {err}") from err


def database_tables(conninfo: str) -> int:
    query = "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
    out = run_pg([pg_tool("psql"), "-X", "-At", "--no-password", f"--dbname={conninfo}", "-c", query], "psql")
    return int(out.strip())


def restore(archive: Path, target: Path, force: bool, postgres: str | None) -> None:
    verify_archive(archive)
    target.mkdir(parents=True, exist_ok=True)
    existing = [p.name for p in target.iterdir() if p.name in ("mlflow.db", "artifacts")]
    if existing and not force:
        raise BackupError(
            f"--target {target} already has {', '.join(sorted(existing))}: stop the server and pass --force to replace them"
        )
    with tempfile.TemporaryDirectory(dir=target, prefix=".restore-") as tmp:
        kind = extract_verified(archive, Path(tmp))
        if kind == "postgresql":
            if postgres is None:
                raise BackupError(f"archive {archive.name} holds a PostgreSQL dump: pass --postgres with the new database")
            restore_dump(Path(tmp) / STORE_FILES[kind], postgres, force)
        elif postgres is not None:
            raise BackupError(f"archive {archive.name} holds a sqlite store: --postgres is only for PostgreSQL archives")
        # Only now, with everything verified, replace what the target had.
        for name in ("mlflow.db", "mlflow.db-journal", "mlflow.db-wal", "mlflow.db-shm"):
            (target / name).unlink(missing_ok=True)
        shutil.rmtree(target / "artifacts", ignore_errors=True)
        if kind == "sqlite":
            os.replace(Path(tmp) / "mlflow.db", target / "mlflow.db")
        os.replace(Path(tmp) / "artifacts", target / "artifacts")


def restore_dump(dump: Path, conninfo: str, force: bool) -> None:
    tables = database_tables(conninfo)
    if tables and not force:
        raise BackupError(
            f"--postgres: the database already has {tables} tables: restore into a new, empty database, or pass --force to replace them"
        )
    # One transaction: a failed restore leaves the database as it was. No owners or grants from the
    # old server: the connecting role owns everything, as it would after a fresh `mlflow server`.
    args = [pg_tool("pg_restore"), "--no-password", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    if force:
        args += ["--clean", "--if-exists"]
    run_pg([*args, f"--dbname={conninfo}", str(dump)], "pg_restore")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("backup", help="write a checksummed archive of the store and artifacts")
    store = b.add_mutually_exclusive_group(required=True)
    store.add_argument("--db", type=Path, help="a sqlite store (mlflow.db)")
    store.add_argument("--postgres", help="a PostgreSQL store: libpq connection string or URI, no password")
    b.add_argument("--artifacts", type=Path, required=True, help="the --artifacts-destination directory")
    b.add_argument("--dest", type=Path, required=True, help="directory for archives (a second volume)")
    b.add_argument("--keep", type=int, default=14, help="archives to keep (default 14)")
    r = sub.add_parser("restore", help="verify an archive and restore it into a server directory")
    r.add_argument("--archive", type=Path, required=True)
    r.add_argument("--target", type=Path, required=True, help="gets artifacts/ (and mlflow.db for sqlite)")
    r.add_argument("--postgres", help="for a PostgreSQL archive: the new database (connection string, no password)")
    r.add_argument("--force", action="store_true", help="replace an existing store in --target / --postgres")
    args = parser.parse_args(argv)
    try:
        if args.postgres is not None:
            check_conninfo(args.postgres)
        if args.command == "backup":
            if args.keep < 1:
                raise BackupError(f"--keep: {args.keep}, expected a whole number of at least 1")
            store = ("sqlite", str(args.db)) if args.db is not None else ("postgresql", args.postgres)
            print(backup(store, args.artifacts, args.dest, args.keep))
        else:
            restore(args.archive, args.target, args.force, args.postgres)
            print(f"restored {args.archive.name} into {args.target}" + (" and the --postgres database" if args.postgres else ""))
    except BackupError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
