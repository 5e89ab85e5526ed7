#!/usr/bin/env python3
"""Collects, plots and tabulates ./train_gpt runs; the scripts/*.sh recipes call it.

A run directory holds the trainer's log.txt and train.log (its stdout); recipes may add decode.log
(the output of `./train_gpt sample`).

  runs.py csv OUT.csv RUN_DIR...                 one row per logged step: run, step, tokens, seconds,
                                                 train_loss, val_loss (seconds = cumulative step time)
  runs.py plot OUT.png CSV --x tokens|seconds    validation loss of every run against tokens or time
  runs.py attention-table OUT.md RUN_DIR...      the attention comparison's markdown table
  runs.py muon-table OUT.md ADAMW_DIRS -- MUON_DIRS   the optimizer comparison's markdown table
  runs.py online OUT_PREFIX RUN_DIR...           online (--online 1) runs: OUT_PREFIX.png (the running
                                                 prequential bits/byte over the stream) and OUT_PREFIX.md
                                                 (each setting's final code length, per seed)

Step times are medians over the logged steps, so a moment of contention on a shared machine does not
move them.
"""
import argparse
import csv
import math
import os
import re
import statistics
import sys
import textwrap


def read_run(run_dir):
    """Parses a run directory into its name, per-step records and the figures its train.log prints."""
    name = os.path.basename(os.path.normpath(run_dir))
    log_path = os.path.join(run_dir, "log.txt")
    if not os.path.exists(log_path):
        sys.exit(f"error: {log_path} not found (did the run start?)")
    steps = {}
    for line in open(log_path):
        f = line.split()
        if len(f) < 4 or f[0] != "step":
            continue
        rec = steps.setdefault(int(f[1]), {})
        for key, value in zip(f[2::2], f[3::2]):
            rec[key] = float(value)
    info = {"name": name}
    train_log = os.path.join(run_dir, "train.log")
    if not os.path.exists(train_log):
        sys.exit(f"error: {train_log} not found: runs.py reads the trainer's output saved beside log.txt "
                 f"(train_gpt ... -o {run_dir} > {train_log})")
    text = open(train_log, errors="replace").read()
    patterns = {
        "params": r"^parameters: (\d+) total",
        "mlp_hidden": r"^model: .*?F=(\d+)",
        "pmem_rows": r"^model: .*persistent memory \d+ x (\d+) rows per head",
        "kv_elements": r"^KV cache: (\d+) elements per token per layer",
        "layers": r"^KV cache: .* bytes per token over (\d+) layers",
        "tokens_per_step": r"^batch: B=\d+ T=\d+.*?, (\d+) tokens/step",
        "train_tok_s": r"^average [\d.]+ ms/step, (\d+) tokens/s",
        "ms_per_step": r"^average ([\d.]+) ms/step",
    }
    for key, pattern in patterns.items():
        m = re.search(pattern, text, re.M)
        info[key] = float(m.group(1)) if m else None
    if info["tokens_per_step"] is None:  # every curve against tokens needs it
        sys.exit(f"error: {train_log} has no 'batch: ... tokens/step' line; is it the output of train_gpt or train_gptcu?")
    step_ms = [r["ms"] for s, r in sorted(steps.items()) if "ms" in r][1:]  # the first step warms caches
    opt_ms = [r["opt_ms"] for s, r in sorted(steps.items()) if "opt_ms" in r][1:]
    info["median_ms"] = statistics.median(step_ms) if step_ms else None
    info["median_opt_ms"] = statistics.median(opt_ms) if opt_ms else None
    if info["median_ms"] and info["tokens_per_step"]:
        info["train_tok_s"] = info["tokens_per_step"] / (info["median_ms"] / 1e3)
    decode_log = os.path.join(run_dir, "decode.log")
    if os.path.exists(decode_log):
        m = re.search(r"generated (\d+) tokens in [\d.]+ s: ([\d.]+) tokens/s", open(decode_log, errors="replace").read())
        info["decode_tok_s"] = float(m.group(2)) if m else None
        info["decode_tokens"] = int(m.group(1)) if m else None
    return name, steps, info


def rows_of(run_dir):
    name, steps, info = read_run(run_dir)
    tokens_per_step = info["tokens_per_step"]
    seconds = 0.0
    for step in sorted(steps):
        rec = steps[step]
        seconds += rec.get("ms", 0.0) / 1e3
        yield {"run": name, "step": step, "tokens": int(step * tokens_per_step), "seconds": round(seconds, 3),
               "train_loss": rec.get("train_loss", ""), "val_loss": rec.get("val_loss", "")}


def cmd_csv(args):
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["run", "step", "tokens", "seconds", "train_loss", "val_loss"])
        writer.writeheader()
        for run_dir in args.runs:
            writer.writerows(rows_of(run_dir))
    print(f"wrote {args.out}")


def cmd_plot(args):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("error: plotting needs matplotlib: python3 -m pip install matplotlib")
    curves = {}
    for row in csv.DictReader(open(args.csv)):
        if row["val_loss"]:
            curves.setdefault(row["run"], []).append((float(row[args.x]), float(row["val_loss"])))
    fig, ax = plt.subplots(figsize=(8, 5))
    for run, points in curves.items():
        points = [p for p in points if p[0] > 0]  # step 0 (untrained) squashes the interesting range
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3, label=run)
    ax.set_xlabel({"tokens": "training tokens", "seconds": "training time (s)"}[args.x])
    ax.set_ylabel("validation loss (nats/token)")
    ax.set_title(textwrap.fill(args.title, 90), fontsize=10)  # long titles would run off the figure
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


def fmt(value, pattern):
    return pattern.format(value) if value is not None else "n/a"


def cmd_attention_table(args):
    """One row per variant: its seeds' final losses (runs named VARIANT_s<seed> are the same variant with
    another seed), and the training time each needs to reach the val loss that every variant reaches (the
    highest of the first seeds' final losses), at its median train tokens/s."""
    variants = {}  # variant -> list of (name, info, curve), first seed first
    for run_dir in args.runs:
        name, steps, info = read_run(run_dir)
        curve = [(t, l) for t, l in val_curve(steps, info["tokens_per_step"]) if math.isfinite(l)]
        variants.setdefault(re.sub(r"_s\d+$", "", name), []).append((name, info, curve))
    finals = [runs[0][2][-1][1] for runs in variants.values() if runs[0][2]]
    target = max(finals) if finals else None
    lines = ["| attention | parameters | MLP width F / memory rows P | KV elements / token / layer "
             "| KV bytes / token (fp32, all layers) | final val loss (per seed) "
             f"| seconds to val loss {fmt(target, '{:.4f}')} | train tokens/s | decode tokens/s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for variant, runs in variants.items():
        name, info, curve = runs[0]
        kv_bytes = info["kv_elements"] * 4 * info["layers"] if info["kv_elements"] and info["layers"] else None
        width = f"P={info['pmem_rows']:.0f}" if info["pmem_rows"] else fmt(info["mlp_hidden"], "F={:.0f}")
        seeds = ", ".join(fmt(c[-1][1] if c else None, "{:.4f}") for _, _, c in runs)
        need = tokens_to_reach(curve, target) if target is not None else None
        seconds = need / info["train_tok_s"] if need is not None and info["train_tok_s"] else None
        lines.append(f"| {variant} | {fmt(info['params'], '{:,.0f}')} | {width} | {fmt(info['kv_elements'], '{:.0f}')} "
                     f"| {fmt(kv_bytes, '{:,.0f}')} | {seeds} | {fmt(seconds, '{:,.1f}')} "
                     f"| {fmt(info['train_tok_s'], '{:,.0f}')} | {fmt(info.get('decode_tok_s'), '{:,.0f}')} |")
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {args.out}")


def val_curve(steps, tokens_per_step):
    return [(s * tokens_per_step, r["val_loss"]) for s, r in sorted(steps.items()) if "val_loss" in r and s > 0]


def tokens_to_reach(curve, target):
    """Tokens at which a validation curve first reaches target, interpolated linearly between evaluations."""
    prev = None
    for tokens, loss in curve:
        if loss <= target:
            if prev is None:
                return tokens
            (t0, l0) = prev
            return t0 + (tokens - t0) * (l0 - target) / (l0 - loss)
        prev = (tokens, loss)
    return None


def cmd_muon_table(args):
    """Every run's final loss; the best setting of each optimizer averaged over its seeds (run names end in
    _s<seed>); the tokens Muon's best needs to reach AdamW's best final loss; the optimizer's share."""
    if "--" not in args.runs:
        sys.exit("error: muon-table needs ADAMW_DIRS -- MUON_DIRS")
    cut = args.runs.index("--")
    groups = {"AdamW": args.runs[:cut], "Muon": args.runs[cut + 1:]}
    lines = ["| optimizer | run | final val loss | median ms/step | optimizer ms/step (share of the step) |",
             "|---|---|---|---|---|"]
    settings = {}  # (optimizer, setting) -> list of (curve, info)
    for opt, dirs in groups.items():
        for run_dir in dirs:
            name, steps, info = read_run(run_dir)
            curve = val_curve(steps, info["tokens_per_step"])
            final = curve[-1][1] if curve else float("nan")
            share = (f"{info['median_opt_ms']:.1f} ({100 * info['median_opt_ms'] / info['median_ms']:.1f}%)"
                     if info["median_opt_ms"] is not None and info["median_ms"] else "n/a")
            lines.append(f"| {opt} | {name} | {final:.4f} | {fmt(info['median_ms'], '{:.1f}')} | {share} |")
            if curve and all(math.isfinite(l) for _, l in curve):
                settings.setdefault((opt, re.sub(r"_s\d+$", "", name)), []).append((curve, info))
    best = {}
    for (opt, setting), runs in settings.items():
        n = min(len(c) for c, _ in runs)
        mean_curve = [(runs[0][0][i][0], statistics.mean(c[i][1] for c, _ in runs)) for i in range(n)]
        # the setting rerun with every seed is the sweep's pick; a one-seed setting's luck does not beat it
        key = (-len(runs), mean_curve[-1][1])
        if opt not in best or key < best[opt][3]:
            best[opt] = (setting, mean_curve, runs, key)
    summary = []
    for opt in ("AdamW", "Muon"):
        if opt in best:
            setting, curve, runs, _ = best[opt]
            finals = ", ".join(f"{c[-1][1]:.4f}" for c, _ in runs)
            shares = [i["median_opt_ms"] / i["median_ms"] for _, i in runs if i["median_opt_ms"] is not None and i["median_ms"]]
            share = f"; optimizer step {100 * statistics.mean(shares):.1f}% of the step time" if shares else ""
            summary.append(f"- best {opt}: {setting}, final val loss {curve[-1][1]:.4f} (mean of {len(runs)} seed(s): {finals}){share}")
    if "AdamW" in best and "Muon" in best:
        target, budget = best["AdamW"][1][-1][1], best["AdamW"][1][-1][0]
        need = tokens_to_reach(best["Muon"][1], target)
        if need is not None:
            summary.append(f"- Muon reaches AdamW's best final val loss ({target:.4f}) after {need:,.0f} tokens; AdamW needs "
                           f"{budget:,.0f}: {budget / need:.2f}x fewer tokens with Muon")
        else:
            summary.append(f"- Muon does not reach AdamW's best final val loss ({target:.4f}) within {budget:,.0f} tokens")
    text = "\n".join(lines + [""] + summary) + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    print(text)
    print(f"wrote {args.out}")


def stream_of(run_dir):
    """An online run's running prequential loss, [(tokens, bits/byte)], and its final code length line."""
    name, steps, info = read_run(run_dir)
    curve = [(s * info["tokens_per_step"], r["stream_bpb"]) for s, r in sorted(steps.items()) if "stream_bpb" in r]
    final = None
    for line in open(os.path.join(run_dir, "log.txt")):
        f = line.split()
        if f[:2] == ["stream", "code_length_bits"]:
            final = {"bits": float(f[2]), "tokens": int(f[4]), "bytes": int(f[6])}
    if not curve or final is None:
        sys.exit(f"error: {run_dir} is not a finished online run (no stream_bpb steps or no code length line)")
    return name, curve, final


def cmd_online(args):
    """Runs named STREAM-SETTING_s<seed>: one plot panel and one table per stream, one row per setting, its
    seeds side by side; each row's code length also as a difference from the stream's first setting."""
    streams = {}  # stream -> setting -> [(seed name, curve, final)]
    for run_dir in args.runs:
        name, curve, final = stream_of(run_dir)
        base = re.sub(r"_s\d+$", "", name)
        stream, _, setting = base.partition("-")
        streams.setdefault(stream, {}).setdefault(setting, []).append((name, curve, final))
    lines = []
    for stream, settings in streams.items():
        first = next(iter(settings.values()))
        total_bytes = first[0][2]["bytes"]
        lines += [f"### {stream}: {first[0][2]['tokens']:,} tokens, {total_bytes:,} bytes of text", "",
                  "| setting | code length, kbit (per seed) | bits/byte (per seed) | vs the first row, kbit (per seed) |",
                  "|---|---|---|---|"]
        for setting, runs in settings.items():
            kbits = ", ".join(f"{r[2]['bits'] / 1e3:,.1f}" for r in runs)
            bpb = ", ".join(f"{r[2]['bits'] / r[2]['bytes']:.4f}" for r in runs)
            diff = ", ".join(f"{(r[2]['bits'] - b[2]['bits']) / 1e3:+,.1f}" for r, b in zip(runs, first))
            lines.append(f"| {setting} | {kbits} | {bpb} | {diff} |")
        lines.append("")
    with open(args.prefix + ".md", "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("error: plotting needs matplotlib: python3 -m pip install matplotlib")
    fig, axes = plt.subplots(1, len(streams), figsize=(7 * len(streams), 5), squeeze=False)
    for ax, (stream, settings) in zip(axes[0], streams.items()):
        for setting, runs in settings.items():
            for i, (name, curve, _) in enumerate(runs):
                line, = ax.plot([c[0] for c in curve], [c[1] for c in curve], linewidth=1.2 if i == 0 else 0.6,
                                label=setting if i == 0 else None, color=None if i == 0 else color)
                color = line.get_color()
        ax.set_xscale("log")
        ax.set_xlabel(f"{stream} tokens of the stream seen")
        ax.set_ylabel("prequential loss so far (bits/byte)")
        ax.set_title(f"{stream}: running prequential loss (thin: other seeds)", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.prefix + ".png", dpi=120)
    print(f"wrote {args.prefix}.md and {args.prefix}.png")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("csv")
    p.add_argument("out")
    p.add_argument("runs", nargs="+")
    p.set_defaults(func=cmd_csv)
    p = sub.add_parser("plot")
    p.add_argument("out")
    p.add_argument("csv")
    p.add_argument("--x", choices=["tokens", "seconds"], default="tokens")
    p.add_argument("--title", default="")
    p.set_defaults(func=cmd_plot)
    p = sub.add_parser("muon-table")
    p.add_argument("out")
    p.add_argument("runs", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_muon_table)
    p = sub.add_parser("attention-table")
    p.add_argument("out")
    p.add_argument("runs", nargs="+")
    p.set_defaults(func=cmd_attention_table)
    p = sub.add_parser("online")
    p.add_argument("prefix")
    p.add_argument("runs", nargs="+")
    p.set_defaults(func=cmd_online)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
