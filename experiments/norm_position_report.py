"""The table and the plot of the norm_position sweep (experiments/sweeps/norm_position_multi30k.py).

  python experiments/norm_position_report.py --root=runs/norm_position \
      --output=experiments/results/norm_position_multi30k

Reads each run's config.json, train_log.jsonl and dev_curve.jsonl under --root; writes OUTPUT/results.md (one row a
run), OUTPUT/results.json (the same rows) and OUTPUT/train_loss.png (training loss against step, one panel per
warmup length and one for depth). A run counts as diverged when it skipped a non-finite step or its last dev loss is
above its first (training made the model worse), and as stalled when its final dev BLEU is under 1: both decided by
these rules, fixed before the sweep ran.
"""

from __future__ import annotations

import argparse
import json
import math
import os


def read_jsonl(path: str) -> list[dict]:
  if not os.path.exists(path):
    return []
  rows = []
  with open(path) as f:
    for line in f:
      try:
        rows.append(json.loads(line))
      except ValueError:
        continue
  return rows


def last_per_step(rows: list[dict]) -> list[dict]:
  by_step = {row["step"]: row for row in rows}
  return [by_step[step] for step in sorted(by_step)]


def summarize(root: str, name: str) -> dict | None:
  workdir = os.path.join(root, name)
  config_path = os.path.join(workdir, "config.json")
  if not os.path.exists(config_path):
    return None
  config = json.load(open(config_path))
  train = last_per_step(read_jsonl(os.path.join(workdir, "train_log.jsonl")))
  dev = last_per_step(read_jsonl(os.path.join(workdir, "dev_curve.jsonl")))
  peak = config["d_model"] ** -0.5 * config["learning_rate_scale"] * config["warmup_steps"] ** -0.5
  skipped = max((row.get("train/skipped_steps", 0) for row in train), default=0)
  losses = [row["dev_loss"] for row in dev]
  final_bleu = dev[-1].get("dev_bleu") if dev else None
  diverged = bool(skipped) or (len(losses) >= 2 and (losses[-1] > losses[0] or not math.isfinite(losses[-1])))
  return {"run": name, "norm_position": config.get("norm_position", "post"), "layers": config["num_layers"],
          "warmup": config["warmup_steps"], "peak_lr": round(peak, 5), "steps": train[-1]["step"] if train else 0,
          "dev_loss": [round(x, 4) for x in losses], "dev_bleu": [row.get("dev_bleu") for row in dev],
          "final_dev_bleu": final_bleu, "skipped_steps": skipped, "diverged": diverged,
          "stalled": final_bleu is not None and final_bleu < 1.0,
          "train_curve": [(row["step"], row["train/loss"]) for row in train]}


def write_plot(rows: list[dict], output: str) -> None:
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  panels = sorted({(row["layers"], row["warmup"]) for row in rows})
  figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.6), sharey=True)
  axes = axes if len(panels) > 1 else [axes]
  colors = {"post": "tab:blue", "pre": "tab:orange"}
  peaks = sorted({row["peak_lr"] for row in rows})
  for axis, (layers, warmup) in zip(axes, panels):
    for row in rows:
      if (row["layers"], row["warmup"]) != (layers, warmup) or not row["train_curve"]:
        continue
      steps, losses = zip(*row["train_curve"])
      style = "-" if row["peak_lr"] == peaks[0] else "--"
      axis.plot(steps, [min(loss, 12.0) for loss in losses], style, color=colors[row["norm_position"]],
                label=f"{row['norm_position']}-LN, peak {row['peak_lr']:.4f}")
    axis.set_title(f"{layers}+{layers} layers, warmup {'none' if warmup == 1 else warmup}")
    axis.set_xlabel("step")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
  axes[0].set_ylabel("training loss (label-smoothed)")
  figure.tight_layout()
  figure.savefig(output, dpi=100)
  plt.close(figure)


def write_table(rows: list[dict], output: str) -> None:
  lines = ["| run | norm | layers | warmup | peak lr | dev loss (mid, end) | dev BLEU (mid, end) | skipped steps | "
           "diverged | stalled |", "|---|---|---|---|---|---|---|---|---|---|"]
  for row in rows:
    bleu = ", ".join("-" if b is None else f"{b:.2f}" for b in row["dev_bleu"])
    loss = ", ".join(f"{x:.3f}" for x in row["dev_loss"])
    lines.append(f"| {row['run']} | {row['norm_position']} | {row['layers']} | {row['warmup']} | {row['peak_lr']} | "
                 f"{loss} | {bleu} | {row['skipped_steps']} | {'yes' if row['diverged'] else 'no'} | "
                 f"{'yes' if row['stalled'] else 'no'} |")
  with open(output, "w") as f:
    f.write("\n".join(lines) + "\n")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--root", required=True)
  parser.add_argument("--output", default="experiments/results/norm_position_multi30k")
  args = parser.parse_args()
  rows = [row for row in (summarize(args.root, name) for name in sorted(os.listdir(args.root))) if row]
  if not rows:
    raise SystemExit(f"no runs under {args.root}: run the sweep first (see its docstring)")
  rows.sort(key=lambda r: (r["layers"], r["warmup"], r["peak_lr"], r["norm_position"]))
  os.makedirs(args.output, exist_ok=True)
  write_table(rows, os.path.join(args.output, "results.md"))
  with open(os.path.join(args.output, "results.json"), "w") as f:
    json.dump([{k: v for k, v in row.items() if k != "train_curve"} for row in rows], f, indent=2)
  write_plot(rows, os.path.join(args.output, "train_loss.png"))
  print(open(os.path.join(args.output, "results.md")).read())


if __name__ == "__main__":
  main()
