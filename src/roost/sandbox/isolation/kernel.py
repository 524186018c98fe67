"""The code that runs INSIDE a sandbox (stdlib only), started as ``python -I -S <kernel>
[FD]`` (FD: a socket to the host, else stdin/stdout); decisions 0034 and 0140.

A supervisor owns the channel to the host: it imports only builtin/C modules before its
ready frame, forks the cell interpreter (before it has a thread), makes itself
non-dumpable, runs shell commands and file operations on its threads and hands Python
cells to the cell interpreter. User code runs there only: it holds no descriptor of the
channel and cannot read the supervisor; its one way out is the answer to its cell, which
the supervisor checks and frames itself. A cell interpreter that breaks the rules or
dies ends the kernel (exit ``CELL_BROKE_PROTOCOL``, or its own status).

Frames to the host: struct "!II" (header, payload length), a small flat JSON header,
then raw payload "parts" whose lengths the header lists. Frames from the (trusted) host
carry a ``marshal`` header.
"""

# ruff: noqa: SIM105 - contextlib is not imported here: it costs milliseconds at start-up

from __future__ import annotations

import _ast
import _signal  # type: ignore[import-not-found]  # signal.py would import enum
import _thread
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
from _struct import Struct

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing would import re, functools, collections... at start-up
    from typing import Any, NoReturn

_HDR = Struct("!II")
_U32 = Struct("!I")
_CELL = Struct("!IBdH")  # a cell's answer: cell id, flags, duration_ms, number of parts
_PART = Struct("!BI")  # kind (index in _KINDS), length
_KINDS = ("stdout", "stderr", "result", "error", "image")
_TEXT_CAP = 1 << 20
"""Bytes of one text output (stdout, stderr, result, error); the rest is cut off."""
_IMAGES_CAP = 16 << 20
_MAX_IMAGES = 64
_CELL_MAX = 4 * (_TEXT_CAP + 128) + _IMAGES_CAP + _CELL.size + 68 * _PART.size
_LIST_MAX = 10_000
_MAX_FRAME = 1 << 30  # frames from the trusted host (file uploads)
_SHELL_DRAIN = 0.1
"""Seconds to keep reading after the shell itself exited (see ``shell``)."""
_KERNEL_FILE = "<roost-kernel>"
CELL_BROKE_PROTOCOL = 86
"""Exit status of the supervisor when the cell interpreter sent a malformed answer."""
_PR_SET_DUMPABLE = 4


def _dumps(obj: Any) -> str:
    """Compact JSON (``ensure_ascii``) for the small headers the kernel sends."""
    if isinstance(obj, str):
        return _json_str(obj)  # type: ignore[no-any-return]
    if obj is None:
        return "null"
    if obj is True or obj is False:
        return "true" if obj else "false"
    if isinstance(obj, int):
        return int.__repr__(obj)
    if isinstance(obj, float):
        return float.__repr__(obj) if obj - obj == 0 else "null"  # inf, nan
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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _cap(data: bytes | bytearray) -> bytes:
    if len(data) <= _TEXT_CAP:
        return bytes(data)
    return bytes(data[:_TEXT_CAP]) + b"\n... [truncated %d bytes]" % (len(data) - _TEXT_CAP)


class Supervisor:
    def __init__(self, chan_in: int, chan_out: int) -> None:
        self.chan_in = chan_in
        self.chan_out = chan_out
        self.root = os.path.realpath(os.getcwd())
        self.write_lock = _thread.allocate_lock()
        self.current: int | None = None
        self.cell_pid = 0
        self.cell_req = self.cell_ans = -1
        self.gate = _thread.allocate_lock()  # released once the supervisor is non-dumpable
        self.gate.acquire()

    # -- transport ---------------------------------------------------------------------
    def send(self, header: dict[str, Any], parts: list[tuple[str, bytes]] | None = None) -> None:
        data = [d for _, d in parts or ()]
        if parts:
            header["parts"] = [[name, len(d)] for name, d in parts]
        raw = _dumps(header).encode()
        size = sum(map(len, data))
        chunks = [_HDR.pack(len(raw), size) + raw, *data]
        with self.write_lock:  # one write for small frames, no copy of large payloads
            for chunk in [b"".join(chunks)] if size < 65536 else chunks:
                _write_all(self.chan_out, chunk)

    def reader(self) -> None:
        try:
            while True:
                hlen, plen = _HDR.unpack(_read_exact(self.chan_in, _HDR.size))
                if hlen > _MAX_FRAME or plen > _MAX_FRAME:
                    raise EOFError
                header = marshal.loads(_read_exact(self.chan_in, hlen))
                if not isinstance(header, dict):
                    raise EOFError
                payload = _read_exact(self.chan_in, plen) if plen else b""
                self.dispatch(header, payload)
        except (EOFError, OSError, ValueError, TypeError):
            self.exit(0)

    def exit(self, status: int) -> NoReturn:
        try:
            os.kill(self.cell_pid, _signal.SIGKILL)
        except OSError:
            pass
        os._exit(status)

    def dispatch(self, req: dict[str, Any], payload: bytes) -> None:
        op = req.get("op")
        if op == "exec":  # the host runs one cell at a time
            with self.gate:  # never before the supervisor is closed to the cell
                code = str(req["code"]).encode("utf-8", "surrogatepass")
                self.current = req["id"]
                _write_all(self.cell_req, _HDR.pack(req["id"], len(code)) + code)
        elif op == "interrupt":
            if self.current is not None and self.current == req.get("target"):
                os.kill(self.cell_pid, _signal.SIGINT)
        elif op == "ping":
            self.send({"id": req["id"], "ok": True, "pid": os.getpid(), "root": self.root})
        else:
            try:
                _thread.start_new_thread(self.worker, (req, payload))
            except RuntimeError:  # the pids limit is exhausted (e.g. a fork bomb)
                message = "cannot start a thread: the process limit is reached; kill processes"
                self.fail(req.get("id"), "sandbox_error", message)

    def fail(self, rid: Any, code: str, message: str) -> None:
        self.send({"id": rid, "ok": False, "code": code, "message": message[:2000]})

    def worker(self, req: dict[str, Any], payload: bytes) -> None:
        rid = req.get("id")
        try:
            op = req.get("op")
            if op == "shell":
                self.shell(rid, req)
            elif op == "read":
                data = self.read(req["path"], int(req["max_bytes"]))
                self.send({"id": rid, "ok": True}, [("data", data)])
            elif op == "write":
                self.send({"id": rid, "ok": True, **self.write(req["path"], payload)})
            elif op == "list":
                count, listing = self.listdir(req["path"])
                self.send({"id": rid, "ok": True, "count": count}, [("files", listing)])
            elif op == "delete":
                self.delete(req["path"])
                self.send({"id": rid, "ok": True})
            else:
                self.fail(rid, "invalid_request", f"unknown op {op!r}")
        except FsError as exc:
            self.fail(rid, exc.code, str(exc))
        except Exception as exc:
            self.fail(rid, "sandbox_error", repr(exc))

    def protect(self) -> None:
        """Close the supervisor to the cell interpreter (not dumpable: its /proc files
        and memory need CAP_SYS_PTRACE), then let cells run."""
        try:
            import ctypes

            if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")
        except Exception as exc:  # fail closed: no cell runs next to a reachable supervisor
            os.write(2, f"roost kernel: cannot protect the supervisor: {exc!r}\n".encode())
            self.exit(71)
        self.gate.release()

    def warm_up(self) -> None:
        """Preload the shell's module (after the first cell: not competing with it)."""
        try:
            import subprocess  # noqa: F401
        except Exception:
            pass

    # -- python cells ------------------------------------------------------------------
    def fork_cell(self) -> None:
        """Start the cell interpreter; called before the supervisor has any thread."""
        req_r, req_w = os.pipe()
        ans_r, ans_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                for fd in {self.chan_in, self.chan_out, req_w, ans_r}:
                    os.close(fd)
                CellInterpreter(req_r, ans_w).serve()
            finally:
                os._exit(70)
        os.close(req_r)
        os.close(ans_w)
        self.cell_pid, self.cell_req, self.cell_ans = pid, req_w, ans_r

    def serve_cells(self) -> None:
        """Forward each answer of the cell interpreter (the reader thread hands it the
        cells); end the kernel when it dies or breaks the protocol."""
        warm = False
        while True:
            try:
                header, parts = self.cell_answer()
            except (EOFError, OSError):  # the cell interpreter died
                self.lose_cell(broke_protocol=False)
            except ValueError:
                self.lose_cell(broke_protocol=True)
            self.current = None
            self.send(header, parts)
            if not warm:
                warm = True
                try:
                    _thread.start_new_thread(self.warm_up, ())
                except RuntimeError:  # the pids limit: the first shell call imports it
                    pass

    def cell_answer(self) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
        """The answer to the current cell, checked and re-framed. ValueError when the
        cell interpreter broke the rules (no cell asked, wrong cell, unknown or repeated
        part, over a limit, bytes after its answer)."""
        head = os.read(self.cell_ans, 65536)
        if len(head) < _U32.size:
            head += _read_exact(self.cell_ans, _U32.size - len(head))  # EOFError if gone
        (size,) = _U32.unpack_from(head)
        if not _CELL.size <= size <= _CELL_MAX or len(head) > _U32.size + size:
            raise ValueError(size)
        body = head[_U32.size :]
        if len(body) < size:
            body += _read_exact(self.cell_ans, size - len(body))
        cid, flags, duration, count = _CELL.unpack_from(body)
        at = _CELL.size + count * _PART.size
        rid = self.current
        if cid != rid or count > 4 + _MAX_IMAGES or at > size:
            raise ValueError(cid)
        parts: list[tuple[str, bytes]] = []
        images = 0
        for i in range(count):
            kind, length = _PART.unpack_from(body, _CELL.size + i * _PART.size)
            name = _KINDS[kind] if kind < len(_KINDS) else ""
            if name == "image":
                images += length
                if images > _IMAGES_CAP:
                    raise ValueError(images)
            elif not name or length > _TEXT_CAP + 64 or any(n == name for n, _ in parts):
                raise ValueError(name)
            parts.append((name, body[at : at + length]))
            at += length
        if at != size:
            raise ValueError(at)
        header = {"id": rid, "ok": True, "interrupted": bool(flags & 1), "duration_ms": duration}
        return header, parts

    def lose_cell(self, *, broke_protocol: bool) -> NoReturn:
        """The cell interpreter died or broke the protocol: end the kernel with it, the
        way it ended (so the host reports the same exit status or signal)."""
        for _ in range(0 if broke_protocol else 100):
            pid, status = os.waitpid(self.cell_pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.01)
        else:  # alive but silent: it closed its answer pipe
            self.exit(CELL_BROKE_PROTOCOL)
        if os.WIFSIGNALED(status):
            _signal.signal(os.WTERMSIG(status), _signal.SIG_DFL)
            os.kill(os.getpid(), os.WTERMSIG(status))
        self.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 70)

    # -- shell -------------------------------------------------------------------------
    def shell(self, rid: Any, req: dict[str, Any]) -> None:
        """Run ``/bin/sh -c`` in its own session. Output is read until the shell exits
        plus a short drain; then every process left in its process group is killed (a
        call's processes end with the call; ``setsid`` detaches one on purpose). On
        timeout the group is killed at once."""
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
        pidfd = os.pidfd_open(proc.pid)  # readable when the shell exits
        poller = select.poll()
        for fd in (*bufs, pidfd):
            poller.register(fd, select.POLLIN)
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
                    _killpg(proc.pid)
                    stop_at = now + 2.0
                if stop_at is not None and (now >= stop_at or not open_fds):
                    break
                wait = (stop_at if stop_at is not None else deadline) - now
                for fd, _ev in poller.poll(max(0.0, wait) * 1000):
                    if fd == pidfd:
                        poller.unregister(pidfd)
                        continue
                    chunk = os.read(fd, 1 << 16)
                    if not chunk:
                        poller.unregister(fd)
                        open_fds.discard(fd)
                    elif len(bufs[fd]) <= _TEXT_CAP * 4:
                        bufs[fd] += chunk
        finally:
            _killpg(proc.pid)
            os.close(pidfd)
            lingering = [f for f in (proc.stdout, proc.stderr) if f.fileno() in open_fds]
            for f in (proc.stdout, proc.stderr):
                if f not in lingering:
                    f.close()
            if lingering:
                # Detached (setsid) jobs still hold the pipes: keep reading (and dropping)
                # so they do not die of SIGPIPE when they write later, e.g. a server's log.
                try:
                    _thread.start_new_thread(_discard_until_eof, (lingering,))
                except RuntimeError:  # no thread left (pids limit): they get EPIPE
                    for f in lingering:
                        f.close()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        header = {
            "id": rid,
            "ok": True,
            "exit_code": None if timed_out else proc.returncode,
            "timed_out": timed_out,
            "duration_ms": (time.perf_counter() - start) * 1000,
        }
        self.send(header, [("stdout", _cap(bufs[out_fd])), ("stderr", _cap(bufs[err_fd]))])

    # -- filesystem --------------------------------------------------------------------
    def resolve(self, rel: str, *, follow: bool = True) -> str:
        """The real path of ``rel`` inside the workdir; with ``follow=False`` a final
        symlink is not followed (its parent must still be inside)."""
        if not isinstance(rel, str) or "\0" in rel or rel.startswith("/"):
            raise FsError("sandbox_path_invalid", f"{rel!r}: use a path relative to the workdir")
        parts = [p for p in rel.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise FsError("sandbox_path_invalid", f"{rel!r}: '..' is not allowed")
        if not follow and parts:
            parent = self.resolve("/".join(parts[:-1]) or ".")
            full = os.path.join(parent, parts[-1])
            if os.path.islink(full):
                return full
        full = os.path.join(self.root, *parts) if parts else self.root
        real = os.path.realpath(full)
        if real != self.root and not real.startswith(self.root + "/"):
            raise FsError("sandbox_path_invalid", f"{rel!r} resolves outside the workdir")
        return real

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
                _write_all(fd, data)
            finally:
                os.close(fd)
        except OSError as exc:
            full_or_big = {28: "sandbox_quota_exceeded", 122: "sandbox_quota_exceeded"}
            if exc.errno in (*full_or_big, 27):  # ENOSPC, EDQUOT, EFBIG
                try:
                    os.unlink(full)
                except OSError:
                    pass
                code = full_or_big.get(exc.errno or 0, "sandbox_file_too_large")
                raise FsError(code, f"writing {path!r}: {exc.strerror}") from None
            if exc.errno in (20, 21, 40):  # ENOTDIR, EISDIR, ELOOP
                raise FsError("sandbox_path_invalid", f"{path!r}: {exc.strerror}") from None
            raise
        st = os.lstat(full)
        return {
            "path": os.path.relpath(full, self.root),
            "size": st.st_size,
            "is_dir": stat.S_ISDIR(st.st_mode),
            "modified": st.st_mtime,
        }

    def listdir(self, path: str) -> tuple[int, bytes]:
        """Entries as ``path NUL size NUL is_dir NUL mtime NUL`` records."""
        full = self.resolve(path)
        try:
            names = sorted(os.listdir(full))
        except FileNotFoundError:
            raise FsError("sandbox_file_not_found", f"{path!r} does not exist") from None
        except NotADirectoryError:
            names, full = [os.path.basename(full)], os.path.dirname(full)
        if len(names) > _LIST_MAX:
            message = f"{path!r} has {len(names)} entries (limit {_LIST_MAX}): list a subfolder"
            raise FsError("sandbox_error", message)
        out = []
        for name in names:
            try:
                st = os.lstat(os.path.join(full, name))
            except OSError:
                continue
            rel = os.path.relpath(os.path.join(full, name), self.root).encode("utf-8", "replace")
            out.append(
                b"%s\0%d\0%d\0%r\0" % (rel, st.st_size, stat.S_ISDIR(st.st_mode), st.st_mtime)
            )
        return len(out), b"".join(out)

    def delete(self, path: str) -> None:
        full = self.resolve(path, follow=False)
        if full == self.root:
            raise FsError("sandbox_path_invalid", "cannot delete the workdir itself")
        try:
            if os.path.isdir(full) and not os.path.islink(full):
                import shutil

                shutil.rmtree(full)
            else:
                os.unlink(full)  # a symlink itself, never what it points to
        except FileNotFoundError:
            raise FsError("sandbox_file_not_found", f"{path!r} does not exist") from None


class CellInterpreter:
    """The forked process that runs Python cells; it talks only to the supervisor."""

    def __init__(self, req_fd: int, ans_fd: int) -> None:
        self.req_fd = req_fd
        self.ans_fd = ans_fd
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        # fd-level output of a cell (C extensions, os.system) lands in these files.
        self.cap_out = os.memfd_create("stdout")
        self.cap_err = os.memfd_create("stderr")
        os.dup2(self.cap_out, 1)
        os.dup2(self.cap_err, 2)
        self.ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
        self.site_ready = _thread.allocate_lock()
        self.site_ready.acquire()
        self.sigint = {_signal.SIGINT}
        _signal.signal(_signal.SIGINT, _signal.default_int_handler)

    def complete_site(self) -> None:
        """Finish what ``-S`` skipped (site-packages, .pth files) for user code."""
        try:
            if sys.flags.no_site:
                import site

                site.main()
        except Exception:
            pass
        finally:
            self.site_ready.release()

    def serve(self) -> None:
        # SIGINT (the host's interrupt) may only land while a cell runs: blocked while
        # the interpreter reads a request or writes an answer, dropped between cells.
        _signal.pthread_sigmask(_signal.SIG_BLOCK, self.sigint)
        _thread.start_new_thread(self.complete_site, ())
        while True:
            rid, size = _HDR.unpack(_read_exact(self.req_fd, _HDR.size))
            code = _read_exact(self.req_fd, size).decode("utf-8", "surrogatepass")
            with self.site_ready:
                pass
            while self.sigint & _signal.sigpending():
                _signal.sigtimedwait(self.sigint, 0)  # an interrupt meant for an older cell
            _write_all(self.ans_fd, self.answer(rid, self.run_cell(code)))

    def run_cell(self, code: str) -> dict[str, Any]:
        out, err = io.StringIO(), io.StringIO()
        result: str | None = None
        error: str | None = None
        interrupted = False
        start = time.perf_counter()
        saved = sys.stdout, sys.stderr
        try:
            try:
                sys.stdout, sys.stderr = out, err
                _signal.pthread_sigmask(_signal.SIG_UNBLOCK, self.sigint)
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
            finally:
                _signal.pthread_sigmask(_signal.SIG_BLOCK, self.sigint)
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
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                if stream is not None:
                    stream.flush()
            except Exception:
                pass
        return {
            "stdout": out.getvalue().encode("utf-8", "replace") + _drain(self.cap_out),
            "stderr": err.getvalue().encode("utf-8", "replace") + _drain(self.cap_err),
            "result": result,
            "error": error,
            "interrupted": interrupted,
            "duration_ms": (time.perf_counter() - start) * 1000,
        }

    def answer(self, rid: int, out: dict[str, Any]) -> bytes:
        parts = [(i, _cap(out[k])) for i, k in enumerate(_KINDS[:2]) if out[k]]
        for i, key in enumerate(_KINDS[2:4]):
            if out[key] is not None:
                parts.append((i + 2, _cap(out[key].encode("utf-8", "replace"))))
        budget = _IMAGES_CAP
        for png in self.figures():
            if len(png) <= budget and len(parts) < 4 + _MAX_IMAGES:
                parts.append((4, png))
                budget -= len(png)
        flags = 1 if out["interrupted"] else 0
        head = _CELL.pack(rid, flags, out["duration_ms"], len(parts))
        body = b"".join([head, *(_PART.pack(k, len(d)) for k, d in parts), *(d for _, d in parts)])
        return _U32.pack(len(body)) + body

    def figures(self) -> list[bytes]:
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is None:
            return []
        images = []
        try:
            for num in plt.get_fignums():
                buf = io.BytesIO()
                plt.figure(num).savefig(buf, format="png")
                images.append(buf.getvalue())
            plt.close("all")
        except Exception:
            return images
        return images


class FsError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _killpg(pgid: int) -> None:
    """SIGKILL a process group. One call reaches every member (a fork racing it fails
    on the pending kill); the second is for a member forked just before it."""
    for _ in range(2):
        try:
            os.killpg(pgid, _signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return


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


def _drain(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    if not size:
        return b""
    os.lseek(fd, 0, os.SEEK_SET)
    data = os.read(fd, min(size, _TEXT_CAP + 1))
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    return data


def _format_exc(exc: BaseException) -> str:
    import traceback

    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    # Drop the kernel's own frames so the traceback starts at the user's cell.
    own = (f'"{_KERNEL_FILE}"', '"<string>"', "isolation/kernel.py")
    return "".join(line for line in lines if not any(mark in line for mark in own))


def main() -> None:
    t_main = time.monotonic()
    if len(sys.argv) > 1:  # a socket to the host
        chan_in = chan_out = int(sys.argv[1])
    else:
        chan_in, chan_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    os.close(devnull)
    try:
        _signal.signal(_signal.SIGXFSZ, _signal.SIG_IGN)
    except (AttributeError, ValueError):
        pass
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)  # interrupts are for the cell only
    sup = Supervisor(chan_in, chan_out)
    ready = {"id": 0, "ok": True, "ready": True, "pid": os.getpid(), "t_main": t_main}
    ready["t_ready"] = time.monotonic()
    sup.send(ready)
    sup.fork_cell()  # before the first thread: a fork never copies another thread's locks
    _thread.start_new_thread(sup.reader, ())  # EOF on the channel ends the kernel
    _thread.start_new_thread(sup.protect, ())
    sup.serve_cells()


if __name__ == "__main__":
    main()
