"""The ``gui_*`` agent tools, acting on the session's desktop sandbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from roost.core import ImageBlock, SandboxError, TextBlock
from roost.sandbox.base import Sandbox, SandboxProvider
from roost.sandbox.kinds.base_tools import base_tools
from roost.tools import Tool


def _as_gui(sandbox: Sandbox) -> Any:
    if not all(hasattr(sandbox, m) for m in ("screenshot", "launch", "key")):
        raise SandboxError(
            "the session's sandbox is not a gui sandbox",
            hint="acquire a sandbox of type 'gui' for the gui_* tools",
        )
    return sandbox


def gui_tools(provider: SandboxProvider) -> list[Tool]:
    """The ``gui_*`` agent tools, acting on the session's desktop sandbox."""

    async def gui() -> Any:
        return _as_gui(await provider())

    async def gui_screenshot() -> list[TextBlock | ImageBlock]:
        """A PNG screenshot of the whole desktop."""
        image = await (await gui()).screenshot()
        return [TextBlock(text="screenshot of the desktop"), image]

    async def gui_move(x: int, y: int) -> str:
        """Move the mouse pointer.

        Args:
            x: Pixels from the left edge.
            y: Pixels from the top edge.
        """
        await (await gui()).move(x, y)
        return f"pointer at ({x}, {y})"

    async def gui_click(
        x: int | None = None, y: int | None = None, button: str = "left", double: bool = False
    ) -> str:
        """Click a mouse button at (x, y), or where the pointer is.

        Args:
            x: Pixels from the left edge (with y).
            y: Pixels from the top edge (with x).
            button: left, middle or right.
            double: Double-click.
        """
        await (await gui()).click(x, y, button=button, double=double)
        return f"{'double-' if double else ''}clicked {button}" + (
            f" at ({x}, {y})" if x is not None else ""
        )

    async def gui_type(text: str) -> str:
        """Type text into the focused window.

        Args:
            text: The text to type.
        """
        await (await gui()).type(text)
        return f"typed {len(text)} characters"

    async def gui_key(combo: str) -> str:
        """Press a key or key combo, e.g. 'Return', 'ctrl+s', 'alt+F4'.

        Args:
            combo: X keysym names joined by '+'; several combos separated by spaces.
        """
        await (await gui()).key(combo)
        return f"pressed {combo}"

    async def gui_launch(program: str, args: list[str] | None = None) -> str:
        """Start a program on the desktop (in the background).

        Args:
            program: Program name or path inside the sandbox, e.g. 'xterm'.
            args: Its arguments.
        """
        pid = await (await gui()).launch(program, args or [])
        return f"started {program} (pid {pid})"

    async def gui_windows() -> str:
        """List the visible windows with their position and size."""
        found = await (await gui()).windows()
        return (
            "\n".join(
                f"{w['id']}: {w['title'] or '(no title)'} at ({w['x']}, {w['y']}) "
                f"{w['width']}x{w['height']}"
                for w in found
            )
            or "(no windows)"
        )

    funcs: list[Callable[..., Any]] = [
        gui_screenshot,
        gui_move,
        gui_click,
        gui_type,
        gui_key,
        gui_launch,
        gui_windows,
    ]
    return [Tool.from_function(f) for f in funcs]


def toolset(provider: SandboxProvider) -> list[Tool]:
    """A desktop sandbox's tools: the base tools and ``gui_*``."""
    return [*base_tools(provider), *gui_tools(provider)]
