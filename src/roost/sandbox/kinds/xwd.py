"""Xvfb framebuffer (XWD file written by ``Xvfb -fbdir``) to PNG, in pure Python.

Reading the framebuffer file needs no X client library and no round trip through the
X server, so a GUI screenshot costs one file read and one zlib pass.
"""

from __future__ import annotations

import struct
import zlib

from roost.core import SandboxError

_HEADER = struct.Struct(">25I")


def png_from_rgb(width: int, height: int, rgb: bytes | bytearray, *, level: int = 1) -> bytes:
    """Encode packed 8-bit RGB rows as a PNG (filter 0 on every row)."""
    stride = width * 3
    raw = b"".join(b"\x00" + bytes(rgb[y * stride : (y + 1) * stride]) for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, level))
        + chunk(b"IEND", b"")
    )


def xwd_to_rgb(data: bytes) -> tuple[int, int, bytearray]:
    """Decode a 24/32-bit TrueColor ZPixmap XWD image into ``(width, height, rgb)``."""
    if len(data) < _HEADER.size:
        raise SandboxError("framebuffer file is truncated", hint="is Xvfb running?")
    f = _HEADER.unpack_from(data)
    header_size, version, fmt, _depth, width, height = f[0:6]
    byte_order, bpp, bytes_per_line = f[7], f[11], f[12]
    masks, ncolors = f[14:17], f[19]
    if version != 7 or fmt != 2 or bpp != 32:
        raise SandboxError(
            f"unsupported framebuffer format (version {version}, format {fmt}, {bpp} bpp)",
            hint="start Xvfb with a 24-bit screen, e.g. -screen 0 1280x800x24",
        )
    offset = header_size + ncolors * 12
    end = offset + bytes_per_line * height
    if len(data) < end:
        raise SandboxError("framebuffer file is truncated", hint="is Xvfb running?")
    pixels = memoryview(data)[offset:end]
    if bytes_per_line != width * 4:
        pixels = memoryview(
            b"".join(
                pixels[y * bytes_per_line : y * bytes_per_line + width * 4] for y in range(height)
            )
        )
    byte_index = []
    for mask in masks:
        shift = mask.bit_length() - 8
        if shift < 0 or shift % 8:
            raise SandboxError(f"unsupported colour mask {mask:#x} in framebuffer")
        byte_index.append(shift // 8 if byte_order == 0 else 3 - shift // 8)
    rgb = bytearray(width * height * 3)
    for channel, index in enumerate(byte_index):
        rgb[channel::3] = pixels[index::4]
    return width, height, rgb


def xwd_to_png(data: bytes) -> bytes:
    width, height, rgb = xwd_to_rgb(data)
    return png_from_rgb(width, height, rgb)
