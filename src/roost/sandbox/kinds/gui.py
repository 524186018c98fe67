"""The ``gui`` sandbox: an Xvfb desktop inside a sandbox, driven with xdotool.

Everything runs INSIDE the wrapped sandbox (Xvfb, xdotool, launched programs), through
its shell, so the desktop has exactly the isolation of that sandbox and works on any
backend whose image has ``Xvfb`` and ``xdotool``. Screenshots read the framebuffer file
Xvfb keeps with ``-fbdir`` (one file read, no X client library) and encode it as PNG.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import time

from roost.core import (
    ImageBlock,
    InvalidRequest,
    SandboxError,
    SandboxTimeout,
    SandboxUnavailable,
)
from roost.sandbox.backends.bwrap import BwrapSandbox
from roost.sandbox.base import ExecResult, Sandbox, SandboxInfo, SandboxSpec
from roost.sandbox.kinds.wrapped import WrappedSandbox
from roost.sandbox.kinds.xwd import xwd_to_png

__all__ = ["GUI_DIR", "GuiSandbox", "create_gui_sandbox"]

GUI_DIR = ".gui"
"""Hidden directory in the workdir holding the framebuffer file and program logs."""

_KEY = re.compile(r"^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$")
_BUTTONS = {"left": 1, "middle": 2, "right": 3}


_DETACHED = (
    "pid=$!; i=0\n"
    'while [ "$(ps -o sid= -p $pid | tr -d \' \')" != "$pid" ] && [ $i -lt 500 ]; do\n'
    "  sleep 0.01; i=$((i+1))\ndone\necho $pid"
)
"""Wait until the program started last with ``setsid … &`` runs in its own session (a
shell call's processes end with the call; a detached one is kept), then print its pid."""


def _display_env(display: str) -> str:
    return f"DISPLAY={shlex.quote(display)} "


class GuiSandbox(WrappedSandbox):
    """A desktop sandbox: the wrapped sandbox's API plus screenshot, move, click, type,
    key combos, launching programs and listing windows."""

    def __init__(
        self,
        inner: Sandbox,
        *,
        width: int = 1280,
        height: int = 800,
        start_timeout: float = 10.0,
    ) -> None:
        if not (64 <= width <= 7680 and 64 <= height <= 4320):
            raise InvalidRequest(
                f"screen size {width}x{height} is out of range", hint="use 64x64 … 7680x4320"
            )
        super().__init__(inner)
        self.width = width
        self.height = height
        self.start_timeout = start_timeout
        self.display: str | None = None
        self._xvfb_pid: int | None = None
        self._restarts_seen = 0
        self._lock = asyncio.Lock()

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        await self.inner.start()
        if self.display is not None:
            return
        try:
            await self._start_xvfb()
        except BaseException:
            await self.inner.close()
            raise

    async def _start_xvfb(self) -> None:
        polls = max(1, int(self.start_timeout / 0.01))
        script = f"""
set -e
command -v Xvfb >/dev/null || {{ echo "Xvfb is not installed in the sandbox" >&2; exit 40; }}
command -v xdotool >/dev/null || {{ echo "xdotool is not installed in the sandbox" >&2; exit 41; }}
mkdir -p {GUI_DIR} /tmp/.X11-unix 2>/dev/null || mkdir -p {GUI_DIR}
chmod 1777 /tmp/.X11-unix 2>/dev/null || true
rm -f {GUI_DIR}/display
setsid Xvfb -displayfd 3 -screen 0 {self.width}x{self.height}x24 -fbdir "$PWD/{GUI_DIR}" \\
  -nolisten tcp -noreset 3>{GUI_DIR}/display >{GUI_DIR}/xvfb.log 2>&1 </dev/null &
echo "pid $!"
set +e
i=0
while [ $i -lt {polls} ]; do
  if [ -s {GUI_DIR}/display ] && \\
     DISPLAY=":$(cat {GUI_DIR}/display)" xdotool getdisplaygeometry >/dev/null 2>&1; then
    echo "display :$(cat {GUI_DIR}/display)"; exit 0
  fi
  sleep 0.01; i=$((i+1))
done
cat {GUI_DIR}/xvfb.log >&2; exit 42
"""
        self._restarts_seen = self._restarts()
        res = await self.inner.run_shell(script, timeout=self.start_timeout + 5)
        if res.exit_code in (40, 41):
            raise SandboxUnavailable(res.stderr.strip(), hint="apt-get install xvfb xdotool")
        if res.exit_code != 0:
            raise SandboxError(
                f"Xvfb did not start in the sandbox: {res.stderr.strip()[-500:]}",
                hint="raise limits.memory_mb / pids, or start_timeout",
            )
        fields = dict(line.split(" ", 1) for line in res.stdout.splitlines() if " " in line)
        self._xvfb_pid = int(fields["pid"])
        self.display = fields["display"].strip()
        # Python cells (tkinter, matplotlib TkAgg …) see the same desktop.
        await self.inner.run_python(
            f"import os as _os; _os.environ['DISPLAY'] = {self.display!r}; del _os"
        )

    async def close(self) -> None:
        self.display = None
        await self.inner.close()

    def info(self) -> SandboxInfo:
        info = self.inner.info()
        detail = {**info.detail, "display": self.display, "screen": [self.width, self.height]}
        return info.model_copy(update={"type": "gui", "detail": detail})

    # -- base API: shell commands see the desktop -----------------------------------
    async def run_shell(self, command: str, *, timeout: float = 30.0) -> ExecResult:
        """Shell commands see the desktop (``DISPLAY`` is set)."""
        if self.display is not None:
            command = f"export {_display_env(self.display).strip()}\n{command}"
        return await self.inner.run_shell(command, timeout=timeout)

    # -- desktop --------------------------------------------------------------------------
    def _require_display(self) -> str:
        if self.display is None:
            raise SandboxError("the desktop is not running", hint="call start() first")
        return self.display

    async def _desktop(self) -> str:
        """The display, restarting Xvfb when the sandbox was restarted since (a restart
        kills every process in it; launched programs are gone, workdir files stay)."""
        self._require_display()
        async with self._lock:
            if self._restarts() != self._restarts_seen:
                await self._start_xvfb()
        return self._require_display()

    async def _xdotool(self, args: list[str], *, timeout: float = 10.0) -> str:
        quoted = " ".join(shlex.quote(a) for a in args)
        display = await self._desktop()
        res = await self.inner.run_shell(
            f"{_display_env(display)}xdotool {quoted}", timeout=timeout
        )
        if res.exit_code != 0 and "open display" in res.stderr:
            # Xvfb died on its own (crash, killed from inside): start it again, retry once.
            async with self._lock:
                await self._start_xvfb()
            display = self._require_display()
            res = await self.inner.run_shell(
                f"{_display_env(display)}xdotool {quoted}", timeout=timeout
            )
        if res.timed_out:
            raise SandboxTimeout(f"xdotool {args[0]} did not finish in {timeout:g} s")
        if res.exit_code != 0:
            raise SandboxError(
                f"xdotool {args[0]} failed (exit {res.exit_code}): "
                f"{(res.stderr or res.stdout).strip()[-300:]}"
            )
        return res.stdout

    def _check_point(self, x: int, y: int) -> None:
        if not (0 <= x < self.width and 0 <= y < self.height):
            raise InvalidRequest(
                f"point ({x}, {y}) is outside the {self.width}x{self.height} screen",
                hint="use coordinates inside the screen",
            )

    async def screenshot(self) -> ImageBlock:
        """The whole screen as a PNG image block."""
        await self._desktop()
        raw = await self.inner.read_file(f"{GUI_DIR}/Xvfb_screen0")
        png = await asyncio.to_thread(xwd_to_png, raw)
        return ImageBlock.from_bytes(png, "image/png")  # type: ignore[no-any-return]

    async def move(self, x: int, y: int) -> None:
        self._check_point(x, y)
        await self._xdotool(["mousemove", str(x), str(y)])

    async def click(
        self,
        x: int | None = None,
        y: int | None = None,
        *,
        button: str = "left",
        double: bool = False,
    ) -> None:
        """Click at (x, y), or where the pointer is when no point is given."""
        if button not in _BUTTONS:
            raise InvalidRequest(f"unknown mouse button {button!r}", hint="left, middle or right")
        args: list[str] = []
        if x is not None or y is not None:
            if x is None or y is None:
                raise InvalidRequest("give both x and y, or neither")
            self._check_point(x, y)
            args = ["mousemove", str(x), str(y)]
        # mousedown/mouseup, not `click`: xdotool's click sleeps ~200 ms per call.
        press = ["mousedown", str(_BUTTONS[button]), "mouseup", str(_BUTTONS[button])]
        args += press * (2 if double else 1)
        await self._xdotool(args)

    async def type(self, text: str, *, delay_ms: int = 2) -> None:
        """Type text into the focused window as key presses."""
        if not text:
            return
        timeout = 10 + len(text) * (delay_ms + 10) / 1000
        await self._xdotool(["type", "--delay", str(delay_ms), "--", text], timeout=timeout)

    async def key(self, combo: str) -> None:
        """Press a key or a combo such as ``ctrl+c``, ``Return``, ``alt+F4``."""
        keys = combo.split()
        if not keys or not all(_KEY.match(k) for k in keys):
            raise InvalidRequest(
                f"invalid key combo {combo!r}", hint="use X keysym names joined by '+', e.g. ctrl+s"
            )
        await self._xdotool(["key", "--delay", "10", "--", *keys])

    async def launch(self, program: str, args: list[str] | None = None) -> int:
        """Start a program on the desktop (in the background); returns its pid."""
        if not program or "\x00" in program:
            raise InvalidRequest("program name is empty", hint="e.g. 'xterm'")
        display = await self._desktop()
        argv = " ".join(shlex.quote(a) for a in [program, *(args or [])])
        log = f"{GUI_DIR}/launch-{time.time_ns()}.log"
        command = (
            f"command -v {shlex.quote(program)} >/dev/null || exit 127\n"
            f"{_display_env(display)}setsid {argv} >{log} 2>&1 </dev/null &\n{_DETACHED}"
        )
        res = await self.inner.run_shell(command, timeout=10)
        if res.exit_code == 127:
            raise InvalidRequest(f"program {program!r} not found in the sandbox")
        if res.exit_code != 0:
            raise SandboxError(f"launching {program!r} failed: {res.stderr.strip()}")
        return int(res.stdout.strip().splitlines()[-1])

    async def windows(self, name: str = ".") -> list[dict[str, object]]:
        """Visible windows whose title matches the regex ``name``: id, title, geometry."""
        display = await self._desktop()
        script = (
            f"export {_display_env(display).strip()}\n"
            f"for w in $(xdotool search --onlyvisible --name {shlex.quote(name)} 2>/dev/null); do\n"
            '  echo "$w|$(xdotool getwindowname $w)|'
            '$(xdotool getwindowgeometry --shell $w | tr "\\n" " ")"\n'
            "done"
        )
        res = await self.inner.run_shell(script, timeout=10)
        out: list[dict[str, object]] = []
        for line in res.stdout.splitlines():
            wid, title, geometry = line.split("|", 2)
            geo = dict(part.split("=", 1) for part in geometry.split() if "=" in part)
            out.append(
                {
                    "id": int(wid),
                    "title": title,
                    "x": int(geo.get("X", 0)),
                    "y": int(geo.get("Y", 0)),
                    "width": int(geo.get("WIDTH", 0)),
                    "height": int(geo.get("HEIGHT", 0)),
                }
            )
        return out

    async def wait_for_window(self, name: str, *, timeout: float = 10.0) -> dict[str, object]:
        """Wait until a visible window whose title matches ``name`` appears."""
        deadline = time.monotonic() + timeout
        while True:
            found = await self.windows(name)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise SandboxError(f"no window matching {name!r} after {timeout}s")
            await asyncio.sleep(0.05)


def create_gui_sandbox(
    spec: SandboxSpec | None = None, *, sandbox_id: str | None = None
) -> GuiSandbox:
    """A desktop sandbox on the default (bwrap) backend (on another backend:
    ``create_sandbox(SandboxSpec(type="gui"), backend)``)."""
    spec = (spec or SandboxSpec()).model_copy(update={"type": "gui"})
    return GuiSandbox(BwrapSandbox(spec, sandbox_id=sandbox_id))
