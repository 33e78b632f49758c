import gzip
import struct
import zlib

import pytest
from r_xdr import charsxp, header, i32, intsxp, named_vecsxp, strsxp

from scripts.rdata import unserialize, unserialize_lazy_load_members


@pytest.mark.parametrize("version", [2, 3])
def test_character_vector_with_na_and_utf8_decodes(version):
    data = header(version) + strsxp(["Emma", None, "café"])
    assert unserialize(data) == ["Emma", None, "café"]


def test_named_list_with_a_repeated_symbol_reference_decodes_to_a_dict():
    # The second occurrence of the "names" symbol is written as REFSXP (index 1 in the flags).
    inner = named_vecsxp({"a": intsxp([1, 2])})
    outer = (
        i32(19 | (1 << 9))
        + i32(1)
        + inner
        + i32(2 | (1 << 10))
        + i32((1 << 8) | 255)
        + strsxp(["x"])
        + i32(254)
    )
    assert unserialize(header() + outer) == {"x": {"a": [1, 2]}}


def test_lazy_load_db_index_and_blobs_decode_every_object():
    blobs, index, offset = b"", {}, 0
    for name, lines in {"persuasion": ["Persuasion", "by"], "emma": ["EMMA"]}.items():
        raw = header() + strsxp(lines)
        blob = struct.pack(">I", len(raw)) + zlib.compress(raw)
        index[name], offset, blobs = intsxp([offset, len(blob)]), offset + len(blob), blobs + blob
    rdx = gzip.compress(header() + named_vecsxp({"variables": named_vecsxp(index)}))
    assert unserialize_lazy_load_members(rdx, blobs) == {
        "persuasion": ["Persuasion", "by"],
        "emma": ["EMMA"],
    }


def test_non_xdr_input_raises():
    with pytest.raises(ValueError, match="XDR"):
        unserialize(b"A\n" + charsxp("x"))
