"""Checksummed folders: a ``manifest.json`` with the sha256 and size of each file.

Model bundles (:mod:`learned_router.bundle`) and the cache's encoder folder
(:mod:`learned_router.cache.encoder`) are both written this way and both
refuse to load when a file is missing or its bytes changed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from learned_router.errors import BundleError

MANIFEST = "manifest.json"


def sha256_of(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_records(folder: Path, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{name: {"sha256", "bytes"}}`` for files of ``folder`` (all must exist)."""
    records = {}
    for name in names:
        path = folder / name
        if not path.is_file():
            raise BundleError(f"{folder}: cannot write a manifest, {name} is missing")
        records[name] = {"sha256": sha256_of(path), "bytes": path.stat().st_size}
    return records


def write_manifest_json(folder: Path, manifest: Mapping[str, Any]) -> Path:
    """Writes ``manifest.json`` atomically (a reader never sees half of it)."""
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True, default=str) + "\n")
    os.replace(tmp, folder / MANIFEST)
    return folder / MANIFEST


def read_manifest(folder: Path, *, missing: str, damaged: str) -> dict[str, Any]:
    """The parsed manifest; ``missing`` / ``damaged`` finish the error messages."""
    path = folder / MANIFEST
    if not path.is_file():
        raise BundleError(f"{folder}: {missing} ({MANIFEST} not found)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BundleError(f"{path}: not valid UTF-8 JSON ({error}); {damaged}") from error
    except OSError as error:
        raise BundleError(f"{path}: cannot read it ({error}); {damaged}") from error
    if not isinstance(manifest, dict):
        raise BundleError(
            f"{path}: holds a JSON {type(manifest).__name__}, not an object; {damaged}"
        )
    if not isinstance(manifest.get("files", {}), dict):
        raise BundleError(f"{path}: `files` is not an object of file records; {damaged}")
    return manifest


def check_files(
    folder: Path, records: Mapping[str, Any], names: Iterable[str], *, what: str, remedy: str
) -> None:
    """Raises :class:`BundleError` unless every file in ``names`` is listed in
    ``records`` and has the recorded size and sha256. ``what`` names the folder
    ("bundle"); ``remedy`` says what to do about a changed file."""
    for name in names:
        if name not in records:
            raise BundleError(
                f"{folder / MANIFEST}: lists no checksum for {name}; the {what} is incomplete"
            )
        path = folder / name
        if not path.is_file():
            raise BundleError(f"{folder}: {name} is missing; the {what} is incomplete")
        expected = records[name]
        if not isinstance(expected, Mapping):
            raise BundleError(
                f"{folder / MANIFEST}: the record of {name} is {expected!r}, not "
                '{"sha256": ..., "bytes": ...}; the manifest is damaged'
            )
        if path.stat().st_size != expected.get("bytes") or sha256_of(path) != expected.get(
            "sha256"
        ):
            raise BundleError(f"{path}: checksum mismatch with {MANIFEST}; {remedy}")
