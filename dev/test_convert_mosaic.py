#!/usr/bin/env python3
"""scripts/convert_mosaic.py against the reference's model, as dev/test_cli.sh runs it:

A random Memory Mosaic with the reference's tensor names and shapes (nanoMosaics/mosaic_model.py's
state dict, buffers included) is saved as safetensors and converted; ./train_gpt loads the conversion with
-e and writes its first batch's logits and loss (--dump-step); this script computes the same forward in
float64 from the reference's definitions (the leaky average as a T x T matrix, as the reference computes
it) and compares. Then the converter's refusals: a tensor missing, a tensor it does not know.

    python3 dev/test_convert_mosaic.py WORKDIR      (from the repository root, after make train_gpt prepare_data)
"""
import os
import subprocess
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

W = sys.argv[1]
L, C, H, P, M, T_MAX, V = 2, 16, 2, 5, 2, 32, 257
dh = C // H
rng = np.random.default_rng(5)
failures = 0


def report(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    failures += not ok


def normal(*shape, std=0.3):
    return rng.normal(0, std, shape).astype(np.float32)


def heads(lo, hi):  # a per-head parameter as the reference stores it, (1, H, 1, 1)
    return rng.uniform(lo, hi, (1, H, 1, 1)).astype(np.float32)


def reference_state():
    s = {"mosaic.wte.weight": normal(V, C, std=1.0), "mosaic.ln_f.weight": 1 + normal(C, std=0.1), "mosaic.ln_f.bias": normal(C, std=0.1)}
    s["lm_head.weight"] = s["mosaic.wte.weight"]
    exps = -np.maximum(np.arange(T_MAX)[:, None] - np.arange(T_MAX)[None, :], 0).astype(np.float32)
    for l in range(L):
        h = f"mosaic.h.{l}."
        for ln in ("ln_1", "ln_2"):
            s[h + ln + ".weight"], s[h + ln + ".bias"] = 1 + normal(C, std=0.1), normal(C, std=0.1)
        for part in ("attn", "mlp"):
            k = h + part + ".k_featurizer."
            s[k + "W_k.weight"], s[k + "W_k.bias"] = normal(C, C), normal(C, std=0.1)
            s[k + "leaky_avg.leaky_key_beta"] = heads(-0.3, 0.3)  # |b| on both sides of zero
            s[k + "leaky_avg.coef"] = np.tril(exps)  # a buffer: the converter leaves it
            s[k + "key_scale"] = heads(0.0, 0.3)  # some heads past the cap of 5
            s[h + part + ".c_proj.weight"], s[h + part + ".c_proj.bias"] = normal(C, C), normal(C, std=0.1)
        v = h + "attn.v_featurizer."
        s[v + "W_v.weight"], s[v + "W_v.bias"] = normal(C, C), normal(C, std=0.1)
        s[v + "coef"], s[v + "val_scale"] = heads(0.0, 1.0), heads(-0.1, 0.1)
        s[h + "attn.bias"] = np.tril(np.ones((1, 1, T_MAX, T_MAX), np.float32), -1)
        s[h + "mlp.P_k"], s[h + "mlp.P_v"] = normal(M, 1, H, P, dh, std=dh**-0.5), normal(M, 1, H, P, dh, std=dh**-0.5)
        s[h + "mlp.out_scale"] = heads(-0.1, 0.1)
    return s


def layer_norm(x, w, b):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * w + b


def split_heads(x):  # (T, C) -> (H, T, dh)
    return x.reshape(len(x), H, dh).transpose(1, 0, 2)


def key_features(s, pre, x, p):
    k = split_heads(x @ s[pre + "W_k.weight"].T + s[pre + "W_k.bias"])
    T = len(x)
    beta = np.abs(s[pre + "leaky_avg.leaky_key_beta"].reshape(H, 1, 1)) * 10
    decay = np.tril(np.exp(-(np.arange(T)[:, None] - np.arange(T)[None, :]) * beta))  # (H, T, T)
    k = decay @ k
    k = k / (np.linalg.norm(k, axis=-1, keepdims=True) + 1e-10)
    return k * np.exp(np.minimum(p * 10 * s[pre + "key_scale"].reshape(H, 1, 1), 5))


def softmax(a):
    a = np.exp(a - a.max(-1, keepdims=True))
    return a / a.sum(-1, keepdims=True)


def reference_forward(s, ids):
    s = {k: v.astype(np.float64) for k, v in s.items()}
    T = len(ids)
    x = s["mosaic.wte.weight"][ids]
    for l in range(L):
        h = f"mosaic.h.{l}."
        a = layer_norm(x, s[h + "ln_1.weight"], s[h + "ln_1.bias"])
        k = key_features(s, h + "attn.k_featurizer.", a, 1)
        v = split_heads(a @ s[h + "attn.v_featurizer.W_v.weight"].T + s[h + "attn.v_featurizer.W_v.bias"])
        ahead = np.concatenate([v[:, 1:], np.zeros_like(v[:, :1])], axis=1)
        c = s[h + "attn.v_featurizer.coef"].reshape(H, 1, 1)
        v = (1 - c) * ahead + c * v
        v = v / (np.linalg.norm(v, axis=-1, keepdims=True) + 1e-10) * np.exp(10 * s[h + "attn.v_featurizer.val_scale"].reshape(H, 1, 1))
        y = np.zeros_like(v)
        for t in range(1, T):  # position t reads the pairs of strictly earlier positions
            y[:, t] = (softmax(np.einsum("hd,hud->hu", k[:, t], k[:, :t]))[:, :, None] * v[:, :t]).sum(1)
        x = x + y.transpose(1, 0, 2).reshape(T, C) @ s[h + "attn.c_proj.weight"].T + s[h + "attn.c_proj.bias"]
        a = layer_norm(x, s[h + "ln_2.weight"], s[h + "ln_2.bias"])
        k = key_features(s, h + "mlp.k_featurizer.", a, 2)
        y = sum(softmax(k @ s[h + "mlp.P_k"][m, 0].transpose(0, 2, 1)) @ s[h + "mlp.P_v"][m, 0] for m in range(M)) / M
        y = y * np.exp(10 * s[h + "mlp.out_scale"].reshape(H, 1, 1))
        x = x + y.transpose(1, 0, 2).reshape(T, C) @ s[h + "mlp.c_proj.weight"].T + s[h + "mlp.c_proj.bias"]
    x = layer_norm(x, s["mosaic.ln_f.weight"], s["mosaic.ln_f.bias"])
    return x @ s["mosaic.wte.weight"].T


def run(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


state = reference_state()
save_file(state, f"{W}/reference.safetensors")
r = run(sys.executable, "scripts/convert_mosaic.py", f"{W}/reference.safetensors", f"{W}/converted.safetensors")
report(r.returncode == 0, f"convert_mosaic.py: {r.stdout.strip() or r.stderr.strip()}")

# a byte-level shard; -b 1 -t 16 --shuffle 0: the first batch is the shard's first 17 tokens
with open(f"{W}/text.txt", "w") as f:
    f.write("Memory Mosaics predict the next token from associative memories. " * 40)
T = 16
r1 = run("./prepare_data", "-o", f"{W}/shard", f"{W}/text.txt")
r2 = run("./train_gpt", "-e", f"{W}/converted.safetensors", "-i", f"{W}/shard_train.bin", "-j", f"{W}/shard_val.bin", "-b", "1", "-t", str(T),
         "--shuffle", "0", "--dump-step", f"{W}/dump.safetensors")
if r1.returncode or r2.returncode:
    report(False, f"train_gpt -e on the conversion: {(r1.stderr + r2.stdout + r2.stderr).strip()[-400:]}")
else:
    tokens = np.fromfile(f"{W}/shard_train.bin", dtype=np.uint16, offset=1024)[: T + 1].astype(np.int64)
    logits = load_file(f"{W}/dump.safetensors")["logits"][:, :V].astype(np.float64)
    ref = reference_forward(state, tokens[:T])
    diff = np.abs(logits - ref).max() / np.abs(ref).max()
    report(np.isfinite(diff) and diff < 1e-5, f"the converted model's logits == the reference's forward in float64: max rel diff {diff:.2e} (< 1e-5)")
    lse = np.log(np.exp(ref - ref.max(-1, keepdims=True)).sum(-1)) + ref.max(-1)
    ref_loss = float(np.mean(lse - ref[np.arange(T), tokens[1:]]))
    loss = float(next(line.split("loss ")[1].split(",")[0] for line in r2.stdout.splitlines() if line.startswith("wrote")))
    report(abs(loss - ref_loss) < 1e-5 * abs(ref_loss), f"  ... and the loss: {loss:.7f} against {ref_loss:.7f}")

for name, edit, expect in (("a tensor missing", lambda s: s.pop("mosaic.h.1.mlp.P_v"), "lacks tensor 'mosaic.h.1.mlp.P_v'"),
                           ("a tensor it does not know", lambda s: s.update({"mosaic.h.0.mlp.gate": normal(C)}), "does not map: mosaic.h.0.mlp.gate")):
    bad = dict(state)
    edit(bad)
    save_file(bad, f"{W}/bad.safetensors")
    r = run(sys.executable, "scripts/convert_mosaic.py", f"{W}/bad.safetensors", f"{W}/bad_out.safetensors")
    report(r.returncode != 0 and expect in r.stderr and not os.path.exists(f"{W}/bad_out.safetensors"),
           f"convert_mosaic.py refuses {name}: exit {r.returncode}, {r.stderr.strip().splitlines()[0] if r.stderr.strip() else 'no message'}")
sys.exit(1 if failures else 0)
