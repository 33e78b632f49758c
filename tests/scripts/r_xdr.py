"""A tiny writer of R's XDR serialization (R Internals 1.8), to test the reader on known bytes."""

from __future__ import annotations

import struct

HAS_ATTR, HAS_TAG = 1 << 9, 1 << 10


def i32(value: int) -> bytes:
    return struct.pack(">i", value)


def header(version: int = 3) -> bytes:
    out = b"X\n" + i32(version) + i32(0x040201) + i32(0x030500)
    return out + (i32(5) + b"UTF-8" if version == 3 else b"")


def charsxp(text: str | None) -> bytes:
    if text is None:
        return i32(9) + i32(-1)
    raw = text.encode()
    return i32(9 | (1 << 15)) + i32(len(raw)) + raw  # gp bit: UTF-8 encoded


def strsxp(values: list[str | None], attrs: bytes = b"") -> bytes:
    flags = 16 | (HAS_ATTR if attrs else 0)
    return i32(flags) + i32(len(values)) + b"".join(charsxp(v) for v in values) + attrs


def intsxp(values: list[int]) -> bytes:
    return i32(13) + i32(len(values)) + b"".join(i32(v) for v in values)


def symbol(name: str) -> bytes:
    return i32(1) + charsxp(name)


def pairlist(items: dict[str, bytes]) -> bytes:
    out = b""
    for tag, value in items.items():
        out += i32(2 | HAS_TAG) + symbol(tag) + value
    return out + i32(254)


def named_vecsxp(items: dict[str, bytes]) -> bytes:
    names = strsxp(list(items))
    return (
        i32(19 | HAS_ATTR) + i32(len(items)) + b"".join(items.values()) + pairlist({"names": names})
    )
