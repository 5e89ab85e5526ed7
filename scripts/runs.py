#!/usr/bin/env python3
"""Collects, plots and tabulates ./train_gpt runs; the scripts/*.sh recipes call it.

A run directory holds the trainer's log.txt and train.log (its stdout); recipes may add decode.log
(the output of `./train_gpt sample`).

  runs.py csv OUT.csv RUN_DIR...                 one row per logged step: run, step, tokens, seconds,
                                                 train_loss, val_loss (seconds = cumulative step time)
  runs.py plot OUT.png CSV --x tokens|seconds    validation loss of every run against tokens or time
  runs.py attention-table OUT.md RUN_DIR...      the attention comparison's markdown table
"""
import argparse
import csv
import math
import os
import re
import sys


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
    text = open(train_log, errors="replace").read() if os.path.exists(train_log) else ""
    patterns = {
        "params": r"^parameters: (\d+) total",
        "mlp_hidden": r"^model: .*?F=(\d+)",
        "kv_elements": r"^KV cache: (\d+) elements per token per layer",
        "layers": r"^KV cache: .* bytes per token over (\d+) layers",
        "tokens_per_step": r"^batch: B=\d+ T=\d+, (\d+) tokens/step",
        "train_tok_s": r"^average [\d.]+ ms/step, (\d+) tokens/s",
        "ms_per_step": r"^average ([\d.]+) ms/step",
    }
    for key, pattern in patterns.items():
        m = re.search(pattern, text, re.M)
        info[key] = float(m.group(1)) if m else None
    decode_log = os.path.join(run_dir, "decode.log")
    if os.path.exists(decode_log):
        m = re.search(r"generated (\d+) tokens in [\d.]+ s: ([\d.]+) tokens/s", open(decode_log, errors="replace").read())
        info["decode_tok_s"] = float(m.group(2)) if m else None
        info["decode_tokens"] = int(m.group(1)) if m else None
    return name, steps, info


def rows_of(run_dir):
    name, steps, info = read_run(run_dir)
    tokens_per_step = info["tokens_per_step"] or 0
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
    ax.set_title(args.title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


def fmt(value, pattern):
    return pattern.format(value) if value is not None else "n/a"


def cmd_attention_table(args):
    rows = []
    for run_dir in args.runs:
        name, steps, info = read_run(run_dir)
        vals = [(s, r["val_loss"]) for s, r in sorted(steps.items()) if "val_loss" in r]
        final = vals[-1][1] if vals else None
        if final is not None and not math.isfinite(final):
            final = None
        rows.append((name, info, final))
    lines = ["| attention | parameters | MLP width F | KV elements / token / layer | KV bytes / token (fp32, all layers) "
             "| final val loss | train tokens/s | decode tokens/s |",
             "|---|---|---|---|---|---|---|---|"]
    for name, info, final in rows:
        kv_bytes = info["kv_elements"] * 4 * info["layers"] if info["kv_elements"] and info["layers"] else None
        lines.append(f"| {name} | {fmt(info['params'], '{:,.0f}')} | {fmt(info['mlp_hidden'], '{:.0f}')} "
                     f"| {fmt(info['kv_elements'], '{:.0f}')} | {fmt(kv_bytes, '{:,.0f}')} | {fmt(final, '{:.4f}')} "
                     f"| {fmt(info['train_tok_s'], '{:,.0f}')} | {fmt(info.get('decode_tok_s'), '{:,.0f}')} |")
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {args.out}")


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
    p = sub.add_parser("attention-table")
    p.add_argument("out")
    p.add_argument("runs", nargs="+")
    p.set_defaults(func=cmd_attention_table)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
