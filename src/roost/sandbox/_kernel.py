"""The interpreter loop that runs INSIDE a sandbox (stdlib only).

Started as ``python -I -S <compiled kernel>`` (or ``-c`` source): it imports only
builtin/C modules before it answers the ready frame, then finishes the interpreter's
``site`` set-up and warms ``subprocess`` on a background thread; the first cell waits
for ``site`` (decision 0034). Heavier modules (traceback, shutil) load when first needed.

Protocol: frames of ``struct "!II"`` (header length, payload length) + header + raw
payload bytes, on the fds that were stdin/stdout at start. Host->kernel headers are
``marshal`` (the host is trusted; no ``json``/``re`` import needed here), kernel->host
headers are JSON (the host never unmarshals untrusted bytes). Python cells run on the
main thread (so SIGINT interrupts them); shell commands and file operations run on
worker threads so they answer while a cell is busy. fds 0/1/2 are re-pointed so user
code can neither read nor corrupt the protocol stream.
"""

# ruff: noqa: SIM105 - contextlib is not imported here: it costs milliseconds at start-up

from __future__ import annotations

import _ast
import _signal  # type: ignore[import-not-found]  # signal.py would import enum
import _thread
import binascii
import io
import marshal
import os
import select
import stat
import sys
import time

try:  # the C accelerators; pure-Python fallbacks for unusual builds
    from _json import encode_basestring_ascii as _json_str
except ImportError:  # pragma: no cover
    from json.encoder import py_encode_basestring_ascii as _json_str
try:
    from _queue import SimpleQueue
except ImportError:  # pragma: no cover
    from queue import SimpleQueue  # type: ignore[assignment]
from _struct import Struct

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing would import re, functools, collections... at start-up
    from typing import Any

_HDR = Struct("!II")
_MAX_OUTPUT = 1 << 20
_MAX_FRAME = 256 << 20
_SHELL_DRAIN = 0.1
"""Seconds to keep reading after the shell itself exited. Background jobs may hold the
pipes open forever: their later output is read and dropped, not waited for."""
_KERNEL_FILE = "<roost-kernel>"


def _dumps(obj: Any) -> str:
    """Compact JSON for the frame headers the kernel sends (str/int/float/bool/None,
    lists and dicts; anything else as its ``str``), like ``json.dumps(default=str)``."""
    if isinstance(obj, str):
        return _json_str(obj)  # type: ignore[no-any-return]
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if isinstance(obj, int):
        return int.__repr__(obj)
    if isinstance(obj, float):
        if obj != obj:
            return "NaN"
        if obj in (float("inf"), float("-inf")):
            return "Infinity" if obj > 0 else "-Infinity"
        return float.__repr__(obj)
    if isinstance(obj, dict):
        return "{" + ",".join(_json_str(str(k)) + ":" + _dumps(v) for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(_dumps(v) for v in obj) + "]"
    return _json_str(str(obj))  # type: ignore[no-any-return]


def _read_exact(fd: int, n: int) -> bytes:
    chunks: list[bytes] = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


class Kernel:
    def __init__(self) -> None:
        self.proto_in = os.dup(0)
        self.proto_out = os.dup(1)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        # fd-level output of a cell (C extensions, os.system) lands in these files.
        self.cap_out = _scratch_fd("stdout")
        self.cap_err = _scratch_fd("stderr")
        os.dup2(self.cap_out, 1)
        os.dup2(self.cap_err, 2)
        self.root = os.path.realpath(os.getcwd())
        self.write_lock = _thread.allocate_lock()
        self.cells: SimpleQueue[dict[str, Any]] = SimpleQueue()
        self.current_cell: int | None = None
        self.main_ident = _thread.get_ident()
        self.ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
        self.site_ready = _thread.allocate_lock()
        self.site_ready.acquire()
        try:
            _signal.signal(_signal.SIGXFSZ, _signal.SIG_IGN)
        except (AttributeError, ValueError):
            pass

    # -- transport ---------------------------------------------------------------------
    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        raw = _dumps(header).encode()
        data = _HDR.pack(len(raw), len(payload)) + raw + payload
        with self.write_lock:
            view = memoryview(data)
            while view:
                n = os.write(self.proto_out, view)
                view = view[n:]

    def reader(self) -> None:
        try:
            while True:
                hlen, plen = _HDR.unpack(_read_exact(self.proto_in, _HDR.size))
                if hlen > _MAX_FRAME or plen > _MAX_FRAME:
                    raise EOFError
                header = marshal.loads(_read_exact(self.proto_in, hlen))
                if not isinstance(header, dict):
                    raise EOFError
                payload = _read_exact(self.proto_in, plen) if plen else b""
                self.dispatch(header, payload)
        except (EOFError, OSError, ValueError, TypeError):
            os._exit(0)

    def dispatch(self, req: dict[str, Any], payload: bytes) -> None:
        op = req.get("op")
        if op == "exec":
            self.cells.put(req)
        elif op == "interrupt":
            if self.current_cell is not None and self.current_cell == req.get("target"):
                _signal.pthread_kill(self.main_ident, _signal.SIGINT)
        elif op == "ping":
            self.send({"id": req["id"], "ok": True, "pid": os.getpid(), "root": self.root})
        else:
            try:
                _thread.start_new_thread(self.worker, (req, payload))
            except RuntimeError:  # the pids limit is exhausted (e.g. a fork bomb)
                self.send(
                    {
                        "id": req.get("id"),
                        "ok": False,
                        "code": "sandbox_error",
                        "message": "cannot start a thread: the sandbox's process limit is "
                        "reached; kill processes or restart the sandbox",
                    }
                )

    def worker(self, req: dict[str, Any], payload: bytes) -> None:
        rid = req.get("id")
        try:
            op = req.get("op")
            if op == "shell":
                self.send({"id": rid, "ok": True, **self.shell(req)})
            elif op == "read":
                data = self.read(req["path"], int(req["max_bytes"]))
                self.send({"id": rid, "ok": True}, data)
            elif op == "write":
                self.send({"id": rid, "ok": True, "info": self.write(req["path"], payload)})
            elif op == "list":
                self.send({"id": rid, "ok": True, "files": self.listdir(req["path"])})
            elif op == "delete":
                self.delete(req["path"])
                self.send({"id": rid, "ok": True})
            else:
                self.send(
                    {
                        "id": rid,
                        "ok": False,
                        "code": "invalid_request",
                        "message": f"unknown op {op!r}",
                    }
                )
        except FsError as exc:
            self.send({"id": rid, "ok": False, "code": exc.code, "message": str(exc)})
        except Exception as exc:
            self.send({"id": rid, "ok": False, "code": "sandbox_error", "message": repr(exc)})

    def warm_up(self) -> None:
        """Finish what ``-S`` skipped (site-packages, .pth files) and preload the shell's
        module, after the ready frame went out."""
        try:
            if sys.flags.no_site:
                import site

                site.main()
        except Exception:
            pass
        finally:
            self.site_ready.release()
        try:
            import subprocess  # noqa: F401 - warms the import for the first shell call
        except Exception:
            pass

    # -- python cells ------------------------------------------------------------------
    def main_loop(self) -> None:
        with self.site_ready:
            pass
        while True:
            req = self.cells.get()
            self.send({"id": req["id"], "ok": True, **self.run_cell(req["id"], req["code"])})

    def run_cell(self, rid: int, code: str) -> dict[str, Any]:
        out, err = io.StringIO(), io.StringIO()
        result: str | None = None
        error: str | None = None
        interrupted = False
        start = time.perf_counter()
        self.current_cell = rid
        saved = sys.stdout, sys.stderr
        try:
            sys.stdout, sys.stderr = out, err
            try:
                try:
                    tree: Any = compile(code, "<cell>", "exec", _ast.PyCF_ONLY_AST)
                    last: Any = None
                    if tree.body and isinstance(tree.body[-1], _ast.Expr):
                        last = tree.body.pop().value
                    exec(compile(tree, "<cell>", "exec"), self.ns)
                    if last is not None:
                        value = eval(compile(_ast.Expression(last), "<cell>", "eval"), self.ns)
                        if value is not None:
                            self.ns["_"] = value
                            result = repr(value)
                except KeyboardInterrupt:
                    interrupted = True
                    error = "KeyboardInterrupt: the cell was interrupted (timeout)"
                except BaseException as exc:
                    if isinstance(exc, SystemExit):
                        error = f"SystemExit: {exc.code!r} (the interpreter keeps running)"
                    else:
                        error = _format_exc(exc)
            finally:
                sys.stdout, sys.stderr = saved
        except KeyboardInterrupt:
            interrupted = True
            error = "KeyboardInterrupt: the cell was interrupted (timeout)"
        finally:
            self.current_cell = None
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                if stream is not None:
                    stream.flush()
            except Exception:
                pass
        stdout = out.getvalue() + _drain(self.cap_out)
        stderr = err.getvalue() + _drain(self.cap_err)
        return {
            "stdout": _cap(stdout),
            "stderr": _cap(stderr),
            "result": _cap(result) if result is not None else None,
            "error": error,
            "interrupted": interrupted,
            "images": self.figures(),
            "duration_ms": (time.perf_counter() - start) * 1000,
        }

    def figures(self) -> list[str]:
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is None:
            return []
        images = []
        try:
            for num in plt.get_fignums():
                buf = io.BytesIO()
                plt.figure(num).savefig(buf, format="png")
                images.append(binascii.b2a_base64(buf.getvalue(), newline=False).decode("ascii"))
            plt.close("all")
        except Exception:
            return images
        return images

    # -- shell -------------------------------------------------------------------------
    def shell(self, req: dict[str, Any]) -> dict[str, Any]:
        """Run ``/bin/sh -c`` in its own session. Output is read until the shell itself
        exits plus a short drain (background jobs that keep the pipes open do not hold
        the answer); on timeout the whole process group is killed."""
        import subprocess

        start = time.perf_counter()
        deadline = time.monotonic() + float(req["timeout"])
        proc = subprocess.Popen(
            ["/bin/sh", "-c", req["command"]],
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert proc.stdout is not None and proc.stderr is not None
        out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
        bufs = {out_fd: bytearray(), err_fd: bytearray()}
        pidfd = _pidfd(proc.pid)
        poller = select.poll()
        for fd in bufs:
            poller.register(fd, select.POLLIN)
        if pidfd is not None:
            poller.register(pidfd, select.POLLIN)
        open_fds = set(bufs)
        timed_out = False
        stop_at: float | None = None  # end of the drain once the shell exited / was killed
        try:
            while True:
                now = time.monotonic()
                if stop_at is None and proc.poll() is not None:
                    if not open_fds:
                        break
                    stop_at = now + _SHELL_DRAIN
                if stop_at is None and now >= deadline:
                    timed_out = True
                    try:
                        os.killpg(proc.pid, _signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
                    stop_at = now + 2.0
                if stop_at is not None and (now >= stop_at or not open_fds):
                    break
                wait = (stop_at if stop_at is not None else deadline) - now
                if pidfd is None and stop_at is None:
                    wait = min(wait, 0.05)  # no pidfd: poll the child's exit
                for fd, _ev in poller.poll(max(0.0, wait) * 1000):
                    if fd == pidfd:
                        poller.unregister(pidfd)
                        continue
                    chunk = os.read(fd, 1 << 16)
                    if not chunk:
                        poller.unregister(fd)
                        open_fds.discard(fd)
                    elif len(bufs[fd]) <= _MAX_OUTPUT * 4:
                        bufs[fd] += chunk
        finally:
            if pidfd is not None:
                os.close(pidfd)
            lingering = [f for f in (proc.stdout, proc.stderr) if f.fileno() in open_fds]
            for f in (proc.stdout, proc.stderr):
                if f not in lingering:
                    f.close()
            if lingering:
                # Background jobs still hold the pipes: keep reading (and dropping) so
                # they do not die of SIGPIPE when they write later, e.g. a server's log.
                try:
                    _thread.start_new_thread(_discard_until_eof, (lingering,))
                except RuntimeError:  # no thread left (pids limit): they get EPIPE
                    for f in lingering:
                        f.close()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        stdout_b, stderr_b = bufs[out_fd], bufs[err_fd]
        return {
            "stdout": _cap(bytes(stdout_b).decode(errors="replace")),
            "stderr": _cap(bytes(stderr_b).decode(errors="replace")),
            "exit_code": None if timed_out else proc.returncode,
            "timed_out": timed_out,
            "duration_ms": (time.perf_counter() - start) * 1000,
        }

    # -- filesystem --------------------------------------------------------------------
    def resolve(self, rel: str) -> str:
        if not isinstance(rel, str) or "\0" in rel or rel.startswith("/"):
            raise FsError("sandbox_path_invalid", f"{rel!r}: use a path relative to the workdir")
        parts = [p for p in rel.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise FsError("sandbox_path_invalid", f"{rel!r}: '..' is not allowed")
        full = os.path.join(self.root, *parts) if parts else self.root
        real = os.path.realpath(full)
        if real != self.root and not real.startswith(self.root + "/"):
            raise FsError("sandbox_path_invalid", f"{rel!r} resolves outside the workdir")
        return real

    def rel(self, full: str) -> str:
        return os.path.relpath(full, self.root)

    def read(self, path: str, max_bytes: int) -> bytes:
        full = self.resolve(path)
        try:
            with open(full, "rb") as fh:
                st = os.fstat(fh.fileno())
                if stat.S_ISDIR(st.st_mode):
                    raise FsError("sandbox_path_invalid", f"{path!r} is a directory")
                if st.st_size > max_bytes:
                    raise FsError(
                        "sandbox_file_too_large",
                        f"{path!r} is {st.st_size} bytes, limit {max_bytes}",
                    )
                data = fh.read(max_bytes + 1)
        except FileNotFoundError:
            raise FsError("sandbox_file_not_found", f"{path!r} does not exist") from None
        except IsADirectoryError:
            raise FsError("sandbox_path_invalid", f"{path!r} is a directory") from None
        if len(data) > max_bytes:
            raise FsError("sandbox_file_too_large", f"{path!r} is larger than {max_bytes} bytes")
        return data

    def write(self, path: str, data: bytes) -> dict[str, Any]:
        full = self.resolve(path)
        if full == self.root:
            raise FsError("sandbox_path_invalid", "cannot write to the workdir itself")
        try:
            os.makedirs(os.path.dirname(full), exist_ok=True)
            self.resolve(path)  # re-check after creating parents
            fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
        except OSError as exc:
            if exc.errno in (28, 122):  # ENOSPC, EDQUOT
                _unlink_quietly(full)
                raise FsError(
                    "sandbox_quota_exceeded", f"workdir full while writing {path!r}"
                ) from None
            if exc.errno == 27:  # EFBIG
                _unlink_quietly(full)
                raise FsError(
                    "sandbox_file_too_large", f"{path!r} exceeds the file size limit"
                ) from None
            if exc.errno in (20, 21, 40):  # ENOTDIR, EISDIR, ELOOP
                raise FsError("sandbox_path_invalid", f"{path!r}: {exc.strerror}") from None
            raise
        return self.info(full)

    def info(self, full: str) -> dict[str, Any]:
        st = os.lstat(full)
        return {
            "path": self.rel(full),
            "size": st.st_size,
            "is_dir": stat.S_ISDIR(st.st_mode),
            "modified": st.st_mtime,
        }

    def listdir(self, path: str) -> list[dict[str, Any]]:
        full = self.resolve(path)
        try:
            names = sorted(os.listdir(full))
        except FileNotFoundError:
            raise FsError("sandbox_file_not_found", f"{path!r} does not exist") from None
        except NotADirectoryError:
            return [self.info(full)]
        out = []
        for name in names:
            try:
                out.append(self.info(os.path.join(full, name)))
            except OSError:
                pass
        return out

    def delete(self, path: str) -> None:
        full = self.resolve(path)
        if full == self.root:
            raise FsError("sandbox_path_invalid", "cannot delete the workdir itself")
        try:
            if os.path.isdir(full) and not os.path.islink(full):
                import shutil

                shutil.rmtree(full)
            else:
                os.unlink(full)
        except FileNotFoundError:
            raise FsError("sandbox_file_not_found", f"{path!r} does not exist") from None


class FsError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _scratch_fd(name: str) -> int:
    """An anonymous read/write file (memfd; a deleted temp file where there is none)."""
    try:
        return os.memfd_create(name)
    except (AttributeError, OSError):  # pragma: no cover - non-Linux or old libc
        import tempfile

        with tempfile.TemporaryFile() as fh:
            return os.dup(fh.fileno())


def _pidfd(pid: int) -> int | None:
    """A pidfd that becomes readable when ``pid`` exits (None on old kernels)."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _discard_until_eof(files: list[Any]) -> None:
    poller = select.poll()
    by_fd = {f.fileno(): f for f in files}
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    try:
        while by_fd:
            for fd, _ev in poller.poll():
                if not os.read(fd, 1 << 16):
                    poller.unregister(fd)
                    by_fd.pop(fd).close()
    except OSError:
        pass
    for f in by_fd.values():
        f.close()


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _drain(fd: int) -> str:
    size = os.fstat(fd).st_size
    if not size:
        return ""
    os.lseek(fd, 0, os.SEEK_SET)
    data = os.read(fd, min(size, _MAX_OUTPUT + 1))
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    return data.decode(errors="replace")


def _cap(text: str) -> str:
    if len(text) <= _MAX_OUTPUT:
        return text
    return text[:_MAX_OUTPUT] + f"\n... [truncated {len(text) - _MAX_OUTPUT} characters]"


def _format_exc(exc: BaseException) -> str:
    import traceback

    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    # Drop the kernel's own frames so the traceback starts at the user's cell.
    own = (f'"{_KERNEL_FILE}"', '"<string>"', "_kernel.py")
    return "".join(line for line in lines if not any(mark in line for mark in own))


def main() -> None:
    t_main = time.monotonic()
    kernel = Kernel()
    kernel.send(
        {
            "id": 0,
            "ok": True,
            "ready": True,
            "pid": os.getpid(),
            "t_main": t_main,
            "t_ready": time.monotonic(),
        }
    )
    _thread.start_new_thread(kernel.reader, ())  # after ready: EOF exits the process
    _thread.start_new_thread(kernel.warm_up, ())
    while True:
        try:
            kernel.main_loop()
        except KeyboardInterrupt:
            continue  # a late interrupt between cells


if __name__ == "__main__":
    main()
