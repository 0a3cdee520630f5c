"""The portable random weights of the golden test models (../shared/golden/README.md), in numpy.

The C++ generator (src/model/test_model.*) is the product; this twin exists so that a machine
without a vcap build (the GPU machine running Hugging Face transformers) can make the same
checkpoint. Both are checked against golden/models/*/tensors.sha256.
"""
import hashlib
import json
import os
import struct

import numpy as np

_GOLDEN_MUL = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        h ^= byte
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def uniform_pm1(seed, name, count):
    """r_i in [-1, 1) for i = 0..count-1, exactly as the recipe (splitmix64, 53-bit mantissa)."""
    state = np.uint64(seed ^ fnv1a64(name))
    with np.errstate(over="ignore"):
        i = np.arange(1, count + 1, dtype=np.uint64)
        z = state + i * _GOLDEN_MUL
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        z = z ^ (z >> np.uint64(31))
    return 2.0 * ((z >> np.uint64(11)).astype(np.float64) * 2.0**-53) - 1.0


def f32_to_bf16_bits(values):
    bits = values.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + np.uint64(0x7FFF) + ((bits >> np.uint64(16)) & np.uint64(1))) >> np.uint64(16)
    return rounded.astype(np.uint16)


def tensor_bytes(seed, name, shape, dtype, bounds):
    w_bound, b_bound, n_bound = bounds
    count = int(np.prod(shape))
    r = uniform_pm1(seed, name, count)
    if len(shape) >= 2:
        values = r * w_bound
    elif name.endswith(".bias"):
        values = r * b_bound
    else:  # RMSNorm / LayerNorm weights: the product is rounded before the sum
        values = 1.0 + (r * n_bound)
    f32 = values.astype(np.float32)
    if dtype == "BF16":
        return f32_to_bf16_bits(f32).tobytes()
    return f32.tobytes()


def read_manifest(path):
    """tensors.sha256 rows: sha256 dtype shape name."""
    rows = []
    with open(path) as f:
        for line in f:
            digest, dtype, shape, name = line.split()
            rows.append((name, dtype, [int(d) for d in shape.split("x")], digest))
    return rows


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype, shape, bytes)."""
    header, offset = {}, 0
    for name, dtype, shape, data in sorted(tensors):
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, _, _, data in sorted(tensors):
            f.write(data)
    os.replace(tmp, path)


def make_model(golden_models_dir, preset_name, out_dir):
    """Writes a Hugging Face model directory for `preset_name` and checks every tensor hash."""
    presets = json.load(open(os.path.join(golden_models_dir, "presets.json")))
    preset = presets[preset_name]
    bounds = (preset["w_bound"], preset["b_bound"], preset["n_bound"])
    src = os.path.join(golden_models_dir, preset_name)
    os.makedirs(out_dir, exist_ok=True)
    for name in os.listdir(src):
        if name.endswith(".json"):
            with open(os.path.join(src, name), "rb") as f, open(os.path.join(out_dir, name), "wb") as g:
                g.write(f.read())
    tensors, mismatches = [], []
    for name, dtype, shape, digest in read_manifest(os.path.join(src, "tensors.sha256")):
        data = tensor_bytes(preset["seed"], name, shape, dtype, bounds)
        if hashlib.sha256(data).hexdigest() != digest:
            mismatches.append(name)
        tensors.append((name, dtype, shape, data))
    if mismatches:
        raise SystemExit(f"{preset_name}: {len(mismatches)} tensors differ from tensors.sha256, "
                         f"first {mismatches[0]}")
    write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors)
    return out_dir


if __name__ == "__main__":
    import sys
    import tempfile
    golden = sys.argv[1] if len(sys.argv) > 1 else "../shared/golden/models"
    for preset in ("pico", "pico-b"):
        make_model(golden, preset, tempfile.mkdtemp(prefix=f"vcap-{preset}-"))
        print(f"{preset}: all tensors match tensors.sha256")
