"""The interpreter loop that runs INSIDE a sandbox (stdlib only; started as ``python -c``).

Protocol: frames of ``struct "!II"`` (header length, payload length) + a JSON header +
raw payload bytes, on the fds that were stdin/stdout at start. Python cells run on the
main thread (so SIGINT interrupts them); shell commands and file operations run on
worker threads so they answer while a cell is busy. fds 0/1/2 are re-pointed so user
code can neither read nor corrupt the protocol stream.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import io
import json
import os
import queue
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from typing import Any

_HDR = struct.Struct("!II")
_MAX_OUTPUT = 1 << 20
_MAX_FRAME = 256 << 20


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
        self.cap_out = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the kernel
        self.cap_err = tempfile.TemporaryFile()  # noqa: SIM115
        os.dup2(self.cap_out.fileno(), 1)
        os.dup2(self.cap_err.fileno(), 2)
        self.root = os.path.realpath(os.getcwd())
        self.write_lock = threading.Lock()
        self.cells: queue.Queue[dict[str, Any]] = queue.Queue()
        self.current_cell: int | None = None
        self.main_ident = threading.get_ident()
        self.ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
        with contextlib.suppress(AttributeError, ValueError):
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    # -- transport ---------------------------------------------------------------------
    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        raw = json.dumps(header, default=str).encode()
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
                header = json.loads(_read_exact(self.proto_in, hlen))
                payload = _read_exact(self.proto_in, plen) if plen else b""
                self.dispatch(header, payload)
        except (EOFError, OSError, ValueError):
            os._exit(0)

    def dispatch(self, req: dict[str, Any], payload: bytes) -> None:
        op = req.get("op")
        if op == "exec":
            self.cells.put(req)
        elif op == "interrupt":
            if self.current_cell is not None and self.current_cell == req.get("target"):
                signal.pthread_kill(self.main_ident, signal.SIGINT)
        elif op == "ping":
            self.send({"id": req["id"], "ok": True, "pid": os.getpid(), "root": self.root})
        else:
            threading.Thread(target=self.worker, args=(req, payload), daemon=True).start()

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

    # -- python cells ------------------------------------------------------------------
    def main_loop(self) -> None:
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
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    tree = ast.parse(code, "<cell>", "exec")
                    last: ast.expr | None = None
                    if tree.body and isinstance(tree.body[-1], ast.Expr):
                        last = tree.body.pop().value  # type: ignore[attr-defined]
                    exec(compile(tree, "<cell>", "exec"), self.ns)
                    if last is not None:
                        value = eval(compile(ast.Expression(last), "<cell>", "eval"), self.ns)
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
        except KeyboardInterrupt:
            interrupted = True
            error = "KeyboardInterrupt: the cell was interrupted (timeout)"
        finally:
            self.current_cell = None
        sys.stdout.flush()
        sys.stderr.flush()
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
                images.append(base64.b64encode(buf.getvalue()).decode("ascii"))
            plt.close("all")
        except Exception:
            return images
        return images

    # -- shell -------------------------------------------------------------------------
    def shell(self, req: dict[str, Any]) -> dict[str, Any]:
        start = time.perf_counter()
        proc = subprocess.Popen(
            ["/bin/sh", "-c", req["command"]],
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        timed_out = False
        try:
            out, err = proc.communicate(timeout=float(req["timeout"]))
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            try:
                out, err = proc.communicate(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = b"", b""
        return {
            "stdout": _cap(out.decode(errors="replace")),
            "stderr": _cap(err.decode(errors="replace")),
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
                with contextlib.suppress(OSError):
                    os.unlink(full)
                raise FsError(
                    "sandbox_quota_exceeded", f"workdir full while writing {path!r}"
                ) from None
            if exc.errno == 27:  # EFBIG
                with contextlib.suppress(OSError):
                    os.unlink(full)
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
            with contextlib.suppress(OSError):
                out.append(self.info(os.path.join(full, name)))
        return out

    def delete(self, path: str) -> None:
        full = self.resolve(path)
        if full == self.root:
            raise FsError("sandbox_path_invalid", "cannot delete the workdir itself")
        try:
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)
        except FileNotFoundError:
            raise FsError("sandbox_file_not_found", f"{path!r} does not exist") from None


class FsError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _drain(fh: Any) -> str:
    fh.flush()
    fd = fh.fileno()
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
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    # Drop the kernel's own frame so the traceback starts at the user's cell.
    return "".join(line for line in lines if "_kernel" not in line and "<string>" not in line)


def main() -> None:
    kernel = Kernel()
    threading.Thread(target=kernel.reader, daemon=True).start()
    kernel.send({"id": 0, "ok": True, "ready": True, "pid": os.getpid()})
    while True:
        try:
            kernel.main_loop()
        except KeyboardInterrupt:
            continue  # a late interrupt between cells


if __name__ == "__main__":
    main()
