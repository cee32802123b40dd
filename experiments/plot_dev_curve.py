r"""Dev BLEU against training time, one line per workdir, from each run's dev_curve.jsonl.

  python experiments/plot_dev_curve.py --output=docs/images/multi30k_dev_bleu.png runs/multi30k [runs/other ...]

Training time is the `train_seconds` the training loop records (steps and compiles; evaluation excluded).
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags

flags.DEFINE_string("output", "dev_bleu.png", "PNG to write.")
flags.DEFINE_string("title", "Dev BLEU against training time", "Figure title.")


def read_curve(workdir: str) -> list[dict]:
  path = os.path.join(workdir, "dev_curve.jsonl")
  if not os.path.exists(path):
    sys.exit(f"{path} does not exist: is {workdir} a training workdir with dev evaluations (eval_every_steps > 0)?")
  with open(path) as f:  # rows of a loss-only evaluation (num_dev_bleu_sentences=0) have no BLEU
    return [row for row in (json.loads(line) for line in f if line.strip()) if "dev_bleu" in row]


def main(argv) -> None:
  workdirs = argv[1:]
  if not workdirs:
    sys.exit("Name at least one workdir: python experiments/plot_dev_curve.py --output=out.png WORKDIR ...")
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  figure, axis = plt.subplots(figsize=(7, 4))
  for workdir in workdirs:
    points = read_curve(workdir)
    axis.plot([p["train_seconds"] / 60 for p in points], [p["dev_bleu"] for p in points], marker="o",
              label=os.path.basename(os.path.normpath(workdir)))
  axis.set_xlabel("training time (minutes)")
  axis.set_ylabel("dev sacreBLEU")
  axis.set_title(flags.FLAGS.title)
  axis.grid(alpha=0.3)
  axis.legend()
  figure.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(flags.FLAGS.output)), exist_ok=True)
  figure.savefig(flags.FLAGS.output, dpi=110)
  print(f"Wrote {flags.FLAGS.output}")


if __name__ == "__main__":
  app.run(main)
