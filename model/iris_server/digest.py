"""The model's own digest: one sha256 over the files of an MLflow model directory.

Defined so that anyone can recompute it with coreutils, and so that the download step
(actions/download-model, in TypeScript) and this server agree byte for byte: the `sha256sum`
line of every regular file (``<hex>  <path relative to the directory>``), in byte order of the
paths, hashed again::

    (cd dir && find . -type f -printf '%P\\0' | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum

Usage: ``python -m iris_server.digest DIR`` prints ``sha256:<hex>``; ``--expect sha256:<hex>``
exits 1 (naming both) when the directory's digest differs, as the image build checks its label.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys


def _files(root: str) -> list[tuple[bytes, str]]:
    found: list[tuple[bytes, str]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            full = os.path.join(dirpath, name)
            if os.path.isfile(full):
                rel = os.path.relpath(full, root).replace(os.sep, "/")
                found.append((rel.encode("utf-8", "surrogateescape"), full))
    # Byte order of the UTF-8 paths, as `LC_ALL=C sort` and a Buffer compare in Node order them.
    found.sort(key=lambda item: item[0])
    return found


def model_digest(root: str) -> str:
    """``sha256:<hex>`` of the directory's files (see the module docstring)."""
    outer = hashlib.sha256()
    files = _files(root)
    if not files:
        raise ValueError(f"{root} has no files to digest")
    for rel, full in files:
        inner = hashlib.sha256()
        with open(full, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                inner.update(chunk)
        outer.update(inner.hexdigest().encode() + b"  " + rel + b"\n")
    return "sha256:" + outer.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iris_server.digest", description=__doc__.splitlines()[0])
    parser.add_argument("dir", help="an MLflow model directory")
    parser.add_argument("--expect", help="fail unless the digest is this sha256:<hex>")
    args = parser.parse_args(argv)
    digest = model_digest(args.dir)
    if args.expect is not None and args.expect != digest:
        print(f"model digest mismatch in {args.dir}: the files hash to {digest}, expected {args.expect}", file=sys.stderr)
        return 1
    print(digest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
