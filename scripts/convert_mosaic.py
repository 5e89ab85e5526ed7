#!/usr/bin/env python3
"""Converts a Memory Mosaic trained by the reference code (facebookresearch/MemoryMosaics,
nanoMosaics/mosaic_model.py) into a gptc checkpoint that ./train_gpt and ./train_gptcu load with -e
(to sample from, or to train further).

  python3 scripts/convert_mosaic.py IN OUT.safetensors [--vocab-size V] [--max-seq-len T] [--tokenizer bytes|gpt2]

IN is the reference's training checkpoint (ckpt.pt, read with torch: its 'model' state dict and
'model_args') or its state dict saved as safetensors (safetensors.torch.save_model(model, path)); from
safetensors the sizes are read off the tensors' shapes, and the sequence length off the leaky average's
buffer when it is there (else --max-seq-len). The reference pads GPT-2's vocabulary to 50304 rows; the
checkpoint keeps the real vocabulary (--vocab-size, default 50257 for those rows, else the row count) and
pads it its own way. The reference's model is the contextual memory with the persistent memory in every
block: --attn mosaic --mlp pmem --pos none in gptc's flags (docs/design.md §2.2 maps every tensor).
Needs numpy and safetensors (python3 -m pip install numpy safetensors); torch only for a .pt file.
"""
import argparse
import re
import sys

import numpy as np


def fail(msg, hint=None):
    sys.exit(f"error: {msg}" + (f"\nhint: {hint}" if hint else ""))


def load_reference(path):
    """The state dict as float32 numpy arrays (no '_orig_mod.' prefix of torch.compile) and model_args or None."""
    if path.endswith(".safetensors"):
        from safetensors.numpy import load_file
        state, args = load_file(path), None
    else:
        try:
            import torch
        except ImportError:
            fail(f"reading '{path}' needs torch", "python3 -m pip install torch, or save the state dict as safetensors in the reference's environment")
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(ckpt, dict) or "model" not in ckpt:
            fail(f"'{path}' has no 'model' state dict: is it nanoMosaics' ckpt.pt?")
        state = {k: v.float().numpy() for k, v in ckpt["model"].items()}
        args = ckpt.get("model_args")
    return {re.sub(r"^_orig_mod\.", "", k): np.asarray(v, dtype=np.float32) for k, v in state.items()}, args


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--vocab-size", type=int, default=0, help="the real vocabulary (default: 50257 for GPT-2's padded rows, else the row count)")
    p.add_argument("--max-seq-len", type=int, default=0, help="the context length, when the input does not record it")
    p.add_argument("--tokenizer", choices=["bytes", "gpt2"], default=None, help="default: gpt2 for GPT-2's vocabulary, bytes for 257 tokens")
    a = p.parse_args()
    if not a.output.endswith(".safetensors"):
        fail(f"output '{a.output}' must end in .safetensors")
    state, args = load_reference(a.input)
    used = set()

    def take(name):
        if name not in state:
            fail(f"'{a.input}' lacks tensor '{name}': is it a nanoMosaics Memory Mosaic (contextual and persistent memory in every block)?")
        used.add(name)
        return state[name]

    def take_opt(name):
        return take(name) if name in state else None

    wte = take("mosaic.wte.weight") if "mosaic.wte.weight" in state else take("lm_head.weight")
    used.update(n for n in ("mosaic.wte.weight", "lm_head.weight") if n in state)
    rows, C = wte.shape
    L = len({m.group(1) for m in (re.match(r"mosaic\.h\.(\d+)\.", k) for k in state) if m})
    beta = take("mosaic.h.0.attn.k_featurizer.leaky_avg.leaky_key_beta")
    H = beta.shape[1]
    pk0 = take("mosaic.h.0.mlp.P_k")
    M, P, dh = pk0.shape[0], pk0.shape[3], pk0.shape[4]
    bias = "mosaic.h.0.ln_1.bias" in state
    coef = state.get("mosaic.h.0.attn.k_featurizer.leaky_avg.coef")
    T = a.max_seq_len or (args or {}).get("block_size") or (coef.shape[0] if coef is not None else 0)
    if not T:
        fail("the input does not record the context length", "pass --max-seq-len (the reference's block_size)")
    if args:  # a .pt file says what it is: its sizes must agree with its tensors
        for key, have in (("n_layer", L), ("n_head", H), ("n_embd", C), ("pmem_size", P), ("pmem_count", M), ("bias", bias)):
            if key in args and args[key] != have:
                fail(f"'{a.input}': model_args {key}={args[key]}, but its tensors say {have}")
    if L < 1 or C % H or dh != C // H:
        fail(f"'{a.input}': inconsistent sizes (L={L}, C={C}, H={H}, dh={dh})")
    V = a.vocab_size or (50257 if rows in (50257, 50304) else rows)
    if V > rows:
        fail(f"--vocab-size {V} is larger than the embedding's {rows} rows")
    tokenizer = a.tokenizer or ("gpt2" if V == 50257 else "bytes" if V == 257 else None)
    if tokenizer is None:
        fail(f"a vocabulary of {V} tokens is neither GPT-2's (50257) nor bytes (257)", "pass --tokenizer, or --vocab-size")
    Vp = -(-V // 128) * 128

    def layers(fmt, shape_fn=lambda x: x):
        return np.stack([shape_fn(take(fmt.format(l))) for l in range(L)])

    def heads(fmt):  # (1, H, 1, 1) per layer -> (L, H)
        return layers(fmt, lambda x: x.reshape(H))

    h = "mosaic.h.{}."
    tensors = {}
    tensors["wte"] = np.zeros((Vp, C), np.float32)
    tensors["wte"][:V] = wte[:V]
    tensors["ln1w"] = layers(h + "ln_1.weight")
    tensors["qkvw"] = np.concatenate([layers(h + "attn.k_featurizer.W_k.weight"), layers(h + "attn.v_featurizer.W_v.weight")], axis=1)
    tensors["attprojw"] = layers(h + "attn.c_proj.weight")
    tensors["ln2w"] = layers(h + "ln_2.weight")
    tensors["lnfw"] = take("mosaic.ln_f.weight")
    tensors["ctx_beta"] = heads(h + "attn.k_featurizer.leaky_avg.leaky_key_beta")
    tensors["ctx_kscale"] = heads(h + "attn.k_featurizer.key_scale")
    tensors["ctx_vcoef"] = heads(h + "attn.v_featurizer.coef")
    tensors["ctx_vscale"] = heads(h + "attn.v_featurizer.val_scale")
    tensors["pmem_kw"] = layers(h + "mlp.k_featurizer.W_k.weight")
    tensors["pmem_beta"] = heads(h + "mlp.k_featurizer.leaky_avg.leaky_key_beta")
    tensors["pmem_kscale"] = heads(h + "mlp.k_featurizer.key_scale")
    # (M, 1, H, P, dh) -> (M*H*P, dh): memory m, head h at rows (m H + h) P, as gptc stores them
    tensors["pmem_k"] = layers(h + "mlp.P_k", lambda x: x.reshape(M * H * P, dh))
    tensors["pmem_v"] = layers(h + "mlp.P_v", lambda x: x.reshape(M * H * P, dh))
    tensors["pmem_oscale"] = heads(h + "mlp.out_scale")
    tensors["pmem_projw"] = layers(h + "mlp.c_proj.weight")
    if bias:
        tensors["ln1b"] = layers(h + "ln_1.bias")
        tensors["qkvb"] = np.concatenate([layers(h + "attn.k_featurizer.W_k.bias"), layers(h + "attn.v_featurizer.W_v.bias")], axis=1)
        tensors["attprojb"] = layers(h + "attn.c_proj.bias")
        tensors["ln2b"] = layers(h + "ln_2.bias")
        tensors["lnfb"] = take("mosaic.ln_f.bias")
        tensors["pmem_kb"] = layers(h + "mlp.k_featurizer.W_k.bias")
        tensors["pmem_projb"] = layers(h + "mlp.c_proj.bias")
    # the buffers (the leaky average's exponents, the causal mask) are recomputed, not stored
    buffers = re.compile(r"\.(leaky_avg\.coef|attn\.bias)$")
    unused = sorted(k for k in state if k not in used and not buffers.search(k))
    if unused:
        fail(f"'{a.input}' has tensors this converter does not map: {', '.join(unused[:5])}",
             "it is not nanoMosaics' MemoryMosaic, or a variant of it (docs/design.md §2.2 lists what gptc has)")
    meta = {"format": "gptc", "format_version": "1", "tokenizer": tokenizer, "converted_from": a.input,
            "model.attn": "mosaic", "model.pos": "none", "model.num_layers": L, "model.channels": C, "model.num_heads": H,
            "model.num_kv_heads": H, "model.mlp_hidden": 0, "model.vocab_size": V, "model.padded_vocab_size": Vp,
            "model.max_seq_len": T, "model.bias": int(bias), "model.rope_theta": 10000, "model.rope_dim": 0,
            "model.latent_dim": 0, "model.latent_groups": 0, "model.q_rank": 0, "model.mlp": "pmem",
            "model.pmem_size": P, "model.pmem_count": M}
    from safetensors.numpy import save_file
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}, a.output,
              metadata={k: str(v) for k, v in meta.items()})
    print(f"wrote {a.output}: Memory Mosaic L={L} C={C} H={H}, persistent memory {M} x {P} rows per head, V={V}, T={T}, "
          f"bias={int(bias)}, tokenizer {tokenizer}; flags: --attn mosaic --mlp pmem --pmem-size {P} --pmem-count {M}")


if __name__ == "__main__":
    main()
