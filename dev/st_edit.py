#!/usr/bin/env python3
"""Rewrites a safetensors file with deliberate damage, for the tests of what the trainer refuses (standard
library only, so it runs wherever the tests do).

    python3 dev/st_edit.py IN OUT [--drop NAME] [--meta KEY=VALUE] [--fill NAME=VALUE] [--poke NAME:INDEX=VALUE]

--drop removes a tensor (its bytes too), --meta sets a metadata string, --fill sets every element of an F32
tensor, --poke one element; each may repeat. The result is a well-formed safetensors file.
"""
import argparse
import json
import struct


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--drop", action="append", default=[])
    ap.add_argument("--meta", action="append", default=[])
    ap.add_argument("--fill", action="append", default=[])
    ap.add_argument("--poke", action="append", default=[])
    args = ap.parse_args()
    with open(args.src, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        tensors[name] = (info["dtype"], info["shape"], bytearray(data[begin:end]))
    for name in args.drop:
        del tensors[name]
    for kv in args.meta:
        key, value = kv.split("=", 1)
        meta[key] = value
    for kv in args.fill:
        name, value = kv.split("=", 1)
        dtype, shape, raw = tensors[name]
        assert dtype == "F32", dtype
        tensors[name] = (dtype, shape, bytearray(struct.pack("<f", float(value)) * (len(raw) // 4)))
    for kv in args.poke:
        where, value = kv.split("=", 1)
        name, index = where.rsplit(":", 1)
        dtype, shape, raw = tensors[name]
        assert dtype == "F32", dtype
        struct.pack_into("<f", raw, 4 * int(index), float(value))
    out_header, blobs, offset = {"__metadata__": meta}, [], 0
    for name, (dtype, shape, raw) in tensors.items():
        out_header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        blobs.append(bytes(raw))
        offset += len(raw)
    encoded = json.dumps(out_header).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(args.dst, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))


if __name__ == "__main__":
    main()
