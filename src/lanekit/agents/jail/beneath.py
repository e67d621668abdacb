"""Race-free file access beneath one directory: no `..` out, no symbolic links, no hard links.

Every path is opened from a descriptor of the root with `openat2(RESOLVE_BENEATH |
RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)` (Linux 5.6+), or, where the
kernel or a seccomp filter lacks it, one component at a time with `O_NOFOLLOW`. The kernel
resolves the path in the same call that opens it, so a file swapped for a link between a check
and the open cannot lead out: there is no separate check. Only regular files with one link are
read or written (a second link may be a name for a file outside), and files are first opened
`O_PATH`, so a FIFO or a device node is refused without being opened.
"""

from __future__ import annotations

import ctypes
import errno
import os
import posixpath
import stat
from collections.abc import Iterator
from pathlib import Path

SYS_OPENAT2 = 437  # one number on every architecture since Linux 5.1's unified syscall table
RESOLVE_NO_XDEV, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, RESOLVE_BENEATH = 0x01, 0x02, 0x04, 0x08
_RESOLVE = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


class PathRefused(Exception):
    """A path the tools will not open; the message is written for the model."""


class PathMissing(PathRefused):
    """The path (or a directory on the way) does not exist."""


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_state = {"openat2": True}  # cleared on the first ENOSYS/EPERM: the walk below is used from then on


def use_openat2(enabled: bool) -> None:
    """Pick the resolver (tests run both); the walk is always correct, openat2 is one syscall."""
    _state["openat2"] = enabled


def _openat2(dirfd: int, rel: str, flags: int, mode: int) -> int:
    how = _OpenHow(flags | os.O_CLOEXEC, mode if flags & os.O_CREAT else 0, _RESOLVE)
    fd = _libc.syscall(SYS_OPENAT2, ctypes.c_int(dirfd), ctypes.c_char_p(os.fsencode(rel)),
                       ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), rel)
    return fd


def _walk_open(dirfd: int, rel: str, flags: int, mode: int) -> int:
    """The portable resolver: each directory opened O_NOFOLLOW from the previous one."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts:
        return os.open(".", flags | os.O_CLOEXEC, mode, dir_fd=dirfd)
    cur = dirfd
    try:
        for part in parts[:-1]:
            nxt = os.open(part, _DIR_FLAGS, dir_fd=cur)
            if cur != dirfd:
                os.close(cur)
            cur = nxt
        return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=cur)
    finally:
        if cur != dirfd:
            os.close(cur)


def open_beneath(dirfd: int, rel: str, flags: int, mode: int = 0o644) -> int:
    """An fd for `rel` (already normalized, relative) resolved strictly beneath `dirfd`."""
    if _state["openat2"]:
        try:
            return _openat2(dirfd, rel, flags, mode)
        except OSError as exc:
            if exc.errno not in (errno.ENOSYS, errno.EPERM):
                raise
            _state["openat2"] = False  # an old kernel, or a container's seccomp filter
    return _walk_open(dirfd, rel, flags, mode)


def _refusal(exc: OSError, shown: str) -> PathRefused | OSError:
    if exc.errno == errno.ELOOP:
        return PathRefused(f"{shown} is or goes through a symbolic link; the tools do not follow links")
    if exc.errno == errno.EXDEV:
        return PathRefused(f"path {shown!r} is outside the workspace")
    if exc.errno == errno.ENOENT:
        return PathMissing(f"no such file or directory: {shown}")
    if exc.errno == errno.ENOTDIR:
        return PathRefused(f"not a directory on the way to {shown}")
    return exc


class Beneath:
    """File operations confined to `root`; `owner` (uid, gid) is given to what is created."""

    def __init__(self, root: str | Path, owner: tuple[int, int] | None = None) -> None:
        self.root = Path(root)
        self.owner = owner

    def normalize(self, rel: str) -> str:
        """`rel` as a clean relative path ('.' is the root); PathRefused when it names the outside.

        Lexical normalization is exact here because no symbolic link is ever followed."""
        if not isinstance(rel, str) or not rel.strip():
            raise PathRefused("path must be a non-empty string")
        if "\x00" in rel:
            raise PathRefused("path contains a NUL byte")
        raw = rel.strip()
        root = str(self.root)
        if raw.startswith("~"):
            raise PathRefused(f"path {rel!r} is outside the workspace")
        if raw.startswith("/"):
            if raw != root and not raw.startswith(root.rstrip("/") + "/"):
                raise PathRefused(f"path {rel!r} is outside the workspace")
            raw = raw[len(root):].lstrip("/") or "."
        norm = posixpath.normpath(raw)
        if norm == ".." or norm.startswith("../"):
            raise PathRefused(f"path {rel!r} is outside the workspace")
        return norm

    def _root_fd(self) -> int:
        return os.open(self.root, _DIR_FLAGS)

    def open(self, rel: str, flags: int, mode: int = 0o644) -> int:
        """An fd for `rel` under the root; PathRefused for links, escapes and missing paths."""
        norm = self.normalize(rel)
        rootfd = self._root_fd()
        try:
            return open_beneath(rootfd, norm, flags, mode)
        except OSError as exc:
            raise _refusal(exc, rel) from None
        finally:
            os.close(rootfd)

    def _reopen_regular(self, pathfd: int, shown: str, flags: int) -> int:
        """A real fd for the regular, singly-linked file behind an O_PATH fd (same inode, no race)."""
        st = os.fstat(pathfd)
        if stat.S_ISLNK(st.st_mode):
            raise PathRefused(f"{shown} is a symbolic link; the tools do not follow links")
        if not stat.S_ISREG(st.st_mode):
            raise PathRefused(f"{shown} is not a regular file")
        if st.st_nlink > 1:
            raise PathRefused(f"{shown} has other hard links; the tools only touch files with one name")
        return os.open(f"/proc/self/fd/{pathfd}", flags | os.O_CLOEXEC | os.O_NOCTTY)

    def read_bytes(self, rel: str, limit: int) -> tuple[bytes, bool]:
        """At most `limit` bytes of a regular file, and whether more were left."""
        pathfd = self.open(rel, _PATH_FLAGS)
        try:
            fd = self._reopen_regular(pathfd, rel, os.O_RDONLY)
        finally:
            os.close(pathfd)
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(limit + 1)
        return data[:limit], len(data) > limit

    def kind(self, rel: str) -> str:
        """'file', 'dir', 'link', 'missing' or 'other' for `rel`, without following links."""
        try:
            pathfd = self.open(rel, _PATH_FLAGS)
        except PathRefused as exc:
            return "link" if "symbolic link" in str(exc) else "missing"
        try:
            mode = os.fstat(pathfd).st_mode
        finally:
            os.close(pathfd)
        if stat.S_ISLNK(mode):
            return "link"
        return "file" if stat.S_ISREG(mode) else "dir" if stat.S_ISDIR(mode) else "other"

    def _chown(self, fd: int) -> None:
        if self.owner is not None:
            os.fchown(fd, *self.owner)

    def _dir_for_write(self, parts: list[str]) -> int:
        """An fd of the directory `parts`, creating missing ones (each opened O_NOFOLLOW)."""
        cur = self._root_fd()
        for part in parts:
            try:
                os.mkdir(part, 0o755, dir_fd=cur)
                created = True
            except FileExistsError:
                created = False
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=cur)
            except OSError as exc:
                os.close(cur)
                raise _refusal(exc, "/".join(parts)) from None
            os.close(cur)
            cur = nxt
            if created:
                self._chown(cur)
        return cur

    def write_bytes(self, rel: str, data: bytes) -> str:
        """Create or replace a regular file; returns its normalized path."""
        norm = self.normalize(rel)
        if norm == ".":
            raise PathRefused(f"{rel} is a directory")
        *parents, name = norm.split("/")
        dirfd = self._dir_for_write(parents)
        try:
            try:
                # no O_TRUNC at open: a file with a second link is refused before anything changes
                pathfd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
                                 | os.O_CLOEXEC, 0o644, dir_fd=dirfd)
            except OSError as exc:
                if exc.errno == errno.EISDIR:
                    raise PathRefused(f"{rel} is a directory") from None
                if exc.errno == errno.ENXIO:
                    raise PathRefused(f"{rel} is not a regular file") from None
                raise _refusal(exc, rel) from None
        finally:
            os.close(dirfd)
        with os.fdopen(pathfd, "wb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise PathRefused(f"{rel} is not a regular file")
            if st.st_nlink > 1:
                raise PathRefused(f"{rel} has other hard links; the tools only touch files with one name")
            os.ftruncate(fh.fileno(), 0)
            fh.write(data)
            self._chown(fh.fileno())
        return norm

    def list_dir(self, rel: str) -> list[tuple[str, str]]:
        """(name, kind) of each entry, sorted; kinds as in `kind`, links never followed."""
        fd = self.open(rel, _DIR_FLAGS)
        try:
            with os.scandir(fd) as it:
                out = []
                for entry in it:
                    kind = ("link" if entry.is_symlink() else "dir" if entry.is_dir(follow_symlinks=False)
                            else "file" if entry.is_file(follow_symlinks=False) else "other")
                    out.append((entry.name, kind))
        finally:
            os.close(fd)
        return sorted(out)

    def iter_files(self, rel: str) -> Iterator[tuple[str, int]]:
        """(path relative to the root, readable fd) for each regular file under `rel`, sorted.

        The walk holds directory fds (os.fwalk), so a directory swapped for a link mid-walk is
        skipped, not entered. The caller closes each fd."""
        norm = self.normalize(rel)
        pathfd = self.open(norm, _PATH_FLAGS)
        try:
            is_dir = stat.S_ISDIR(os.fstat(pathfd).st_mode)
            if not is_dir:
                yield norm, self._reopen_regular(pathfd, rel, os.O_RDONLY)
                return
        finally:
            os.close(pathfd)
        top = self.open(norm, _DIR_FLAGS)
        try:
            for dirpath, dirnames, filenames, dirfd in os.fwalk(".", dir_fd=top, follow_symlinks=False):
                dirnames.sort()
                for name in sorted(filenames):
                    try:
                        fpath = os.open(name, _PATH_FLAGS, dir_fd=dirfd)
                    except OSError:
                        continue
                    try:
                        fd = self._reopen_regular(fpath, name, os.O_RDONLY)
                    except (PathRefused, OSError):
                        continue  # links, FIFOs, devices, multiply-linked files: not read
                    finally:
                        os.close(fpath)
                    yield posixpath.normpath(posixpath.join(norm, dirpath, name)), fd
        finally:
            os.close(top)
