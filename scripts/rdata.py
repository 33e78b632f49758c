"""A minimal pure-Python reader for R lazy-load databases (``Rdata.rdx`` + ``Rdata.rdb``).

Used only by ``scripts/build_assets.py`` to extract Jane Austen's novels from the Debian
package r-cran-janeaustenr without installing R. It understands the subset of R's XDR
serialization format (R Internals, section 1.8 "Serialization Formats") that character
data needs: NULL, pairlists with tags/attributes, symbols, CHARSXP, STRSXP, VECSXP,
logical/integer/double vectors and back-references.

Layout: ``Rdata.rdx`` is gzip over a serialized list ``variables = {name: c(offset, length)}``;
each ``Rdata.rdb`` blob at ``[offset, offset + length)`` is a 4-byte big-endian size followed
by a zlib stream holding one serialized object.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path
from typing import Any

_NILVALUE, _REF, _NIL = 254, 255, 0
_SYM, _LIST, _LGL, _INT, _REAL, _STR, _VEC, _CHAR = 1, 2, 10, 13, 14, 16, 19, 9
_SPECIAL_NULLS = {241, 242, 247, 251, 253}  # base/empty/global envs, missing arg: unused here


class _XdrReader:
    def __init__(self, data: bytes) -> None:
        if data[:2] != b"X\n":
            raise ValueError(f"not an XDR R serialization (header {data[:2]!r})")
        self.buf, self.pos, self.refs = data, 2, []
        version = self.int()
        self.pos += 8  # writer and minimal reader R versions
        if version == 3:
            n_encoding = self.int()
            self.pos += n_encoding  # native encoding name, e.g. "UTF-8"

    def int(self) -> int:
        (value,) = struct.unpack_from(">i", self.buf, self.pos)
        self.pos += 4
        return value

    def item(self) -> Any:
        flags = self.int()
        kind, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if kind in (_NILVALUE, _NIL) or kind in _SPECIAL_NULLS:
            return None
        if kind == _REF:
            index = flags >> 8 or self.int()
            return self.refs[index - 1]
        if kind == _SYM:
            name = self.item()
            self.refs.append(name)
            return name
        if kind == _LIST:  # pairlist -> dict (tags become keys)
            out: dict[Any, Any] = {}
            while kind == _LIST:
                if has_attr:
                    self.item()
                tag = self.item() if has_tag else len(out)
                out[tag] = self.item()
                flags = self.int()
                kind, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
            return out  # the terminating NILVALUE was just consumed
        if kind == _CHAR:
            n = self.int()
            if n == -1:
                return None  # NA_character_
            text = self.buf[self.pos : self.pos + n].decode("utf-8")
            self.pos += n
            return text
        value = self._vector(kind)
        if has_attr:
            attrs = self.item()
            if isinstance(value, list) and isinstance(attrs, dict) and "names" in attrs:
                value = dict(zip(attrs["names"], value, strict=True))
        return value

    def _vector(self, kind: int) -> list[Any]:
        n = self.int()
        if kind in (_STR, _VEC):
            return [self.item() for _ in range(n)]
        if kind in (_LGL, _INT):
            values = struct.unpack_from(f">{n}i", self.buf, self.pos)
            self.pos += 4 * n
            return list(values)
        if kind == _REAL:
            values = struct.unpack_from(f">{n}d", self.buf, self.pos)
            self.pos += 8 * n
            return list(values)
        raise ValueError(f"unsupported R SEXP type {kind} at byte {self.pos - 8}")


def unserialize(data: bytes) -> Any:
    """Decode one XDR-serialized R object (STRSXP -> list[str], named list -> dict, ...)."""
    return _XdrReader(data).item()


def read_lazy_load_db(stem: str | Path) -> dict[str, Any]:
    """Read every object of the lazy-load DB ``<stem>.rdx`` / ``<stem>.rdb`` into a dict."""
    stem = Path(stem)
    rdx, rdb = stem.with_suffix(".rdx").read_bytes(), stem.with_suffix(".rdb").read_bytes()
    return unserialize_lazy_load_members(rdx, rdb)


def unserialize_lazy_load_members(rdx: bytes, rdb: bytes) -> dict[str, Any]:
    """Like :func:`read_lazy_load_db`, from the two files' bytes."""
    index = unserialize(gzip.decompress(rdx))
    out = {}
    for name, (offset, length) in index["variables"].items():
        chunk = rdb[offset : offset + length]
        (size,) = struct.unpack_from(">I", chunk)
        raw = zlib.decompress(chunk[4:])
        if len(raw) != size:
            raise ValueError(f"Rdata.rdb: object {name!r} decompressed to {len(raw)} != {size} B")
        out[name] = unserialize(raw)
    return out
