"""Files for attachment tests: a real PNG (a browser draws it), a PDF's first bytes, base64."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any


def png(width: int = 40, height: int = 30, rgb: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A valid PNG of one colour (PNG specification: signature, IHDR, IDAT, IEND)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def uploaded(name: str, data: bytes, content_type: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "content_type": content_type, "content": b64(data), **extra}


def linked(name: str, url: str, content_type: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "content_type": content_type, "url": url, **extra}
