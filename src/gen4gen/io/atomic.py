"""Atomic file writes: a reader (or a resumed run) never sees half a file.

Every file is written to a temporary file beside it, fsynced and renamed over the target. The temporary files
are named ``.gen4gen-<name>.<host>-<pid>.<random>.tmp``: a distinctive prefix, the target's name (shortened when
long, so that the temporary name always fits the file system's 255-byte limit), and the host and process that
writes it. :func:`remove_stale_temporaries` removes only files of that pattern whose writer is gone (a process of
this host that no longer runs, or any writer after :data:`STALE_AFTER_S`), so two runs on one folder never delete
each other's files in flight, and nothing that gen4gen did not make is ever touched.

Output files get the permissions the umask allows (``0o666 & ~umask``, as ``open`` would give), not the 0600 of
a private temporary file. A full disk, a read-only file system or a folder without write permission becomes a
one-line :class:`~gen4gen.errors.StageError` naming the file; a rerun resumes with nothing lost.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import socket
import tempfile
import threading
import time
from pathlib import Path

from gen4gen.errors import ConfigError, StageError

TEMP_PREFIX = ".gen4gen-"
TEMP_SUFFIX = ".tmp"
STALE_AFTER_S = 3600.0  # no writer holds a temporary file this long: older ones are removed whoever made them
_NAME_BYTES = 100  # at most this much of the target's name goes into a temporary name
_HOST = hashlib.sha256(socket.gethostname().encode("utf-8", "surrogateescape")).hexdigest()[:8]
_TEMP = re.compile(r"^\.gen4gen-.*\.(?P<host>[0-9a-f]{8})-(?P<pid>\d+)\.[^.]+\.tmp$", re.DOTALL)

_fallback_umask: int | None = None
_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the system tells it (Linux), else set and restored
    once (not thread-safe, so done only once)."""
    global _fallback_umask
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii", errors="replace")
        found = re.search(r"^Umask:\s*([0-7]+)", status, re.MULTILINE)
        if found is not None:
            return int(found.group(1), 8)
    except OSError:
        pass
    with _umask_lock:
        if _fallback_umask is None:
            _fallback_umask = os.umask(0o022)
            os.umask(_fallback_umask)
        return _fallback_umask


def _short_name(name: str) -> str:
    """``name`` cut to at most ``_NAME_BYTES`` bytes of UTF-8 (on a character boundary)."""
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) <= _NAME_BYTES:
        return name
    return raw[:_NAME_BYTES].decode("utf-8", "ignore")


def temporary_prefix(name: str) -> str:
    """The start of a temporary file's name for target ``name`` (the random part and ``.tmp`` follow)."""
    return f"{TEMP_PREFIX}{_short_name(name)}.{_HOST}-{os.getpid()}."


def write_error(path: Path, exc: OSError) -> StageError:
    """A one-line error for a write to ``path`` that the system refused, saying what to do."""
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        fix = "no space left on the device; free some space and rerun the same command to resume"
    elif code == errno.EROFS:
        fix = "read-only file system; choose an --out on a writable disk"
    elif code in (errno.EACCES, errno.EPERM):
        fix = "permission denied; choose an --out you can write to"
    elif code == errno.ENAMETOOLONG:
        fix = "file name too long for this file system; shorten the photo or folder name"
    elif code in (errno.ENOTDIR, errno.EEXIST):
        fix = "a file stands where a folder is needed; move it away or choose another --out"
    else:
        fix = f"{exc.strerror or type(exc).__name__}; check the disk and rerun the same command to resume"
    return StageError(f"{path}: cannot write ({fix}); everything finished so far is kept")


def atomic_write_bytes(path: Path, data: bytes) -> str:
    """Write ``data`` to ``path`` via a temporary file + fsync + rename; returns the sha256 of ``data``.

    Raises :class:`StageError` (one line, naming the file) when the system refuses the write.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path.name), suffix=TEMP_SUFFIX)
    except OSError as exc:
        raise write_error(path, exc) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o666 & ~current_umask())
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise write_error(path, exc) from exc
        raise
    return hashlib.sha256(data).hexdigest()


def atomic_write_text(path: Path, text: str) -> str:
    return atomic_write_bytes(path, text.encode("utf-8"))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def make_output_folder(path: Path, option: str = "--out") -> None:
    """Create output folder ``path`` (and its parents) and check that it can be written, before any work.

    A file standing where the folder (or one of its parents) should be is a usage error
    (:class:`~gen4gen.errors.ConfigError`); a read-only, full or forbidden location is a :class:`StageError`.
    """
    for place in (path, *path.parents):
        if place.exists() and not place.is_dir():
            where = "is a file" if place == path else f"is under {place}, which is a file"
            raise ConfigError(f"{option} {path}: {where}, not a folder; choose another {option}")
        if place.is_dir():
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=temporary_prefix("write-check"), suffix=TEMP_SUFFIX)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise write_error(path, exc) from exc


def _writer_gone(name: str, mtime: float, now: float) -> bool:
    """Whether the writer of temporary file ``name`` can no longer be writing it."""
    match = _TEMP.match(name)
    if match is None:
        return False
    if now - mtime > STALE_AFTER_S:
        return True
    if match["host"] != _HOST:
        return False  # another machine's run on a shared folder: only its age tells
    pid = int(match["pid"])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists (another user's process): not ours to judge
        return False
    return False


def remove_stale_temporaries(root: Path) -> int:
    """Delete gen4gen's temporary files under ``root`` whose writer was killed mid-write; returns how many.

    Only files named like ours (see the module docstring) are considered, hidden folders (``.git``, ...) and
    symbolic links are not entered, and a file whose writer may still be running is left alone.
    """
    removed = 0
    now = time.time()
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not (name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)):
                continue
            path = Path(folder) / name
            try:
                if path.is_symlink() or not path.is_file():
                    continue
                if _writer_gone(name, path.stat().st_mtime, now):
                    path.unlink()
                    removed += 1
            except OSError:
                continue
    return removed
