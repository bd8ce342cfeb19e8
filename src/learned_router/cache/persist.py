"""The cache file: one self-checking file, replaced atomically.

Layout::

    b"LRCACHE\\0" | format version (u32 LE) | header length (u64 LE)
    | SHA-256 of the header (32 bytes) | header (UTF-8 JSON) | sections...

The header lists the sections in order with their length and SHA-256, plus
the configuration and statistics at save time (``learned-router cache stats``
reads only the header). Sections: ``entries`` (an Arrow IPC stream, one row
per entry) and ``scope/<id>`` (that scope's vectors: raw ids and float32
rows, or a serialised faiss IVF index). No pickle anywhere.

Crash safety: a save writes a temporary file in the same directory, fsyncs
it, renames it over the old file (atomic on POSIX) and fsyncs the directory.
A crash at any point leaves either the old file or the new one, never a mix;
leftover temporary files are ignored by loads and removed by a later save.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from learned_router.errors import CacheFileError

MAGIC = b"LRCACHE\x00"
FORMAT_VERSION = 2
# 2: exact-tier keys no longer fold case, interior whitespace or final punctuation.
_PREFIX = struct.Struct("<8sIQ32s")
_STALE_TMP_S = 15 * 60


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}.tmp-"


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_file(path: Path, header: dict[str, Any], sections: Sequence[tuple[str, bytes]]) -> None:
    """Writes ``header`` and ``sections`` to ``path`` atomically (see module doc)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {
        **header,
        "format": FORMAT_VERSION,
        "sections": [
            {"name": name, "length": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in sections
        ],
    }
    header_bytes = json.dumps(header, sort_keys=True).encode()
    prefix = _PREFIX.pack(
        MAGIC, FORMAT_VERSION, len(header_bytes), hashlib.sha256(header_bytes).digest()
    )
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=_tmp_prefix(path))
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(prefix)
            out.write(header_bytes)
            for _, data in sections:
                out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)
    # Temporary files left by a crash; recent ones may belong to a save still
    # running in another process, so only old ones go.
    now = time.time()
    for stale in path.parent.glob(_tmp_prefix(path) + "*"):
        with contextlib.suppress(OSError):
            if now - stale.stat().st_mtime > _STALE_TMP_S:
                stale.unlink()


def _read_prefix(path: Path, handle: Any) -> dict[str, Any]:
    raw = handle.read(_PREFIX.size)
    if len(raw) < _PREFIX.size:
        raise CacheFileError(f"{path}: truncated ({len(raw)} bytes); not a learned-router cache")
    magic, version, header_length, header_sha = _PREFIX.unpack(raw)
    if magic != MAGIC:
        raise CacheFileError(f"{path}: not a learned-router cache file (bad magic bytes)")
    if version != FORMAT_VERSION:
        raise CacheFileError(
            f"{path}: format version {version}, this learned-router reads version "
            f"{FORMAT_VERSION}; rebuild the cache or use a matching release"
        )
    header_bytes = handle.read(header_length)
    if len(header_bytes) != header_length or hashlib.sha256(header_bytes).digest() != header_sha:
        raise CacheFileError(f"{path}: header is truncated or damaged (checksum mismatch)")
    try:
        header = json.loads(header_bytes)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CacheFileError(f"{path}: header is not UTF-8 JSON ({err})") from err
    if not isinstance(header, dict):
        raise CacheFileError(f"{path}: header is a JSON {type(header).__name__}, not an object")
    return header


def _check_sections(path: Path, header: dict[str, Any], size: int) -> list[dict[str, Any]]:
    """The header's section list, each entry checked against the file's size."""
    sections = header.get("sections")
    if not isinstance(sections, list):
        raise CacheFileError(f"{path}: header has no list of sections")
    for k, section in enumerate(sections):
        length = section.get("length") if isinstance(section, dict) else None
        if (
            not isinstance(section, dict)
            or not isinstance(section.get("name"), str)
            or not isinstance(section.get("sha256"), str)
            or isinstance(length, bool)
            or not isinstance(length, int)
            or not 0 <= length <= size
        ):
            raise CacheFileError(
                f"{path}: section #{k} of the header is malformed ({section!r:.200}); "
                "the file is damaged"
            )
    return sections


def read_header(path: Path) -> dict[str, Any]:
    """The header of a cache file, checked; raises :class:`CacheFileError`."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return _read_prefix(path, handle)
    except OSError as err:
        raise CacheFileError(f"{path}: cannot read the cache file: {err}") from err


def read_file(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Header and every section, each checked against its SHA-256."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            header = _read_prefix(path, handle)
            sections: dict[str, bytes] = {}
            for section in _check_sections(path, header, os.fstat(handle.fileno()).st_size):
                data = handle.read(section["length"])
                if len(data) != section["length"]:
                    raise CacheFileError(f"{path}: section {section['name']!r} is truncated")
                if hashlib.sha256(data).hexdigest() != section["sha256"]:
                    raise CacheFileError(
                        f"{path}: checksum of section {section['name']!r} does not match; "
                        "the file is damaged"
                    )
                sections[section["name"]] = data
            if handle.read(1):
                raise CacheFileError(f"{path}: unexpected bytes after the last section")
    except OSError as err:
        raise CacheFileError(f"{path}: cannot read the cache file: {err}") from err
    return header, sections
