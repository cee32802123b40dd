"""Run a sweep of training runs, each in its own workdir, then gather their metrics into a table and plots.

  python -m transformer_jax.sweep experiments/sweeps/embedded_heads_layers.py --root=runs/heads_layers
  python -m transformer_jax.sweep SWEEP.py --root=R --parallel=2        # two runs at a time
  python -m transformer_jax.sweep SWEEP.py --root=R --print_commands    # one command line per run, for a scheduler
  python -m transformer_jax.sweep SWEEP.py --root=R --group=A --set num_train_steps=100   # one group, extra override
  python -m transformer_jax.sweep SWEEP.py --root=R --aggregate_only    # only rebuild results.csv/.md and plots
  python -m transformer_jax.sweep SWEEP.py --parameter_counts           # closed-form parameter counts, no training
  python -m transformer_jax.sweep SWEEP.py --root=R --launcher=slurm    # one SLURM job per run (submitit)

A sweep file defines `get_sweep()` returning a `Sweep`: a base config file, overrides for every run, and named groups
of runs built with `grid(...)` (every combination), `random_search(...)` (seeded samples) or `point(...)` (one run,
optionally with reported reference numbers shown beside ours). See experiments/sweeps/ for examples.

Each run is `python -m transformer_jax.main --config=CONFIG --config.KEY=VALUE ... --workdir=ROOT/RUN_NAME` with its
output appended to ROOT/RUN_NAME/log.txt. Finished runs (results.json present) are skipped; anything else is
(re)started, and main resumes it from its latest checkpoint, so rerunning the same command after a crash, a kill or
a reboot completes the sweep. (Runs are matched by name: after changing a finished run's overrides, use a new root.)
With --launcher=slurm (or `launcher="slurm"` in the sweep file) each unfinished run is submitted as a SLURM job
through submitit, with the sweep's `job_parameters` (e.g. {"timeout_min": 4320, "gpus_per_node": 8,
"slurm_partition": "gpu"}); the job runs the same command, and a preempted or timed-out job is requeued and resumes
from its checkpoint. Skipping and resuming are the same as for local runs. submitit keeps its files in ROOT/submitit.
Afterwards ROOT/results.csv, ROOT/results.md and ROOT/plots/*.png summarise every run: final and best metrics from
results.json, dev_curve.jsonl and train_log.jsonl; learning curves; the chosen metric against each varied key.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import itertools
import json
import math
import os
import random
import shlex
import subprocess
import sys
import time
from typing import Any

from absl import app, flags

from transformer_jax import config_base, pyfile, workdir as workdir_lib
from transformer_jax.errors import ConfigError, MissingFileError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOG = "log.txt"

# ---- What a sweep file builds ----


@dataclasses.dataclass(frozen=True)
class SweepPoint:
  """One training run: config overrides (key -> value), optionally its own name, base config and reference
  numbers (e.g. the paper's {"dev/perplexity": 4.92}) printed beside ours."""
  overrides: dict
  name: str = ""
  config: str = ""
  reference: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Sweep:
  config: str  # base config file, e.g. "configs/default.py" (relative to the repository root or the cwd)
  groups: dict  # group name -> list of SweepPoint
  # Applied to every run, before the run's own; a value may be a function of the run name (e.g. a per-run path).
  overrides: dict = dataclasses.field(default_factory=dict)
  metric: str = "dev/bleu_best"  # results.csv column plotted against each varied key
  description: str = ""
  # Where runs train: "local" (subprocesses on this machine), "slurm" (one SLURM job per run, through submitit) or
  # "submitit_local" (submitit's local executor: jobs as on a cluster, on this machine). --launcher overrides it.
  launcher: str = "local"
  # submitit parameters of each job, e.g. {"timeout_min": 4320, "gpus_per_node": 8, "slurm_partition": "gpu"}
  # (generic ones: timeout_min, nodes, tasks_per_node, gpus_per_node, cpus_per_task, mem_gb; slurm_* for SLURM).
  job_parameters: dict = dataclasses.field(default_factory=dict)


def point(name: str = "", reference: dict | None = None, config: str = "", **overrides) -> SweepPoint:
  return SweepPoint(overrides=overrides, name=name, config=config, reference=dict(reference or {}))


def grid(**axes) -> list[SweepPoint]:
  """Every combination of the values of each key, e.g. grid(num_heads=[2, 8], num_layers=[1, 3]) -> 4 runs."""
  keys = list(axes)
  return [SweepPoint(overrides=dict(zip(keys, values))) for values in itertools.product(*(axes[k] for k in keys))]


@dataclasses.dataclass(frozen=True)
class Uniform:
  low: float
  high: float
  log: bool = False

  def sample(self, rng: random.Random) -> float:
    if self.log:
      value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
    else:
      value = rng.uniform(self.low, self.high)
    return float(f"{value:.4g}")  # 4 significant digits: the run name shows exactly the value used


def uniform(low: float, high: float) -> Uniform:
  return Uniform(low, high)


def log_uniform(low: float, high: float) -> Uniform:
  return Uniform(low, high, log=True)


def random_search(num_runs: int, seed: int = 0, **space) -> list[SweepPoint]:
  """num_runs samples; each key's space is a list (uniform choice) or uniform(a, b) / log_uniform(a, b)."""
  rng = random.Random(seed)
  runs = []
  for _ in range(num_runs):
    runs.append(SweepPoint(overrides={k: v.sample(rng) if isinstance(v, Uniform) else rng.choice(list(v))
                               for k, v in space.items()}))
  return runs


# ---- Resolving a sweep into runs ----


@dataclasses.dataclass(frozen=True)
class ResolvedRun:
  name: str
  group: str
  config: str
  overrides: dict  # all overrides: the sweep's, the run's, then --set
  varied: dict  # the run's own overrides (what distinguishes it)
  reference: dict


def load_sweep(path: str) -> Sweep:
  if not os.path.isfile(path):
    raise MissingFileError(f"sweep file {path!r} not found")
  module = pyfile.load_module(path, "sweep_file")
  if not hasattr(module, "get_sweep"):
    raise ConfigError(f"{path} defines no get_sweep()")
  sweep = module.get_sweep()
  if not isinstance(sweep, Sweep):
    raise ConfigError(f"{path}: get_sweep() must return transformer_jax.sweep.Sweep, not {type(sweep).__name__}")
  return sweep


def _format_value(value: Any) -> str:
  if isinstance(value, bool):
    return str(value)
  if isinstance(value, float):
    return f"{value:g}"
  if isinstance(value, (tuple, list)):
    return "(" + ",".join(_format_value(v) for v in value) + ("," if len(value) == 1 else "") + ")"
  return str(value)


def _config_path(config: str) -> str:
  if os.path.isabs(config) or os.path.exists(config):
    return config
  return os.path.join(REPO, config)


def parse_sets(sets: list[str]) -> dict:
  parsed = {}
  for item in sets:
    key, separator, value = item.partition("=")
    if not separator or not key:
      raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set num_train_steps=100")
    parsed[key] = value
  return parsed


def resolve(sweep: Sweep, group: str | None = None, sets: dict | None = None) -> list[ResolvedRun]:
  """The runs of the sweep (or of one group), named group-key=value-..., in the sweep file's order."""
  if group is not None and group not in sweep.groups:
    raise ConfigError(f"--group={group!r}: the sweep has groups {sorted(sweep.groups)}")
  runs, names = [], set()
  for group_name, group_runs in sweep.groups.items():
    if group is not None and group_name != group:
      continue
    for run in group_runs:
      name = run.name or "-".join([group_name] + [f"{k}={_format_value(v)}" for k, v in run.overrides.items()])
      name = name.replace("/", "_").replace(" ", "")
      if name in names:
        raise ConfigError(f"two runs are named {name!r}: give them distinct names")
      names.add(name)
      runs.append(ResolvedRun(name=name, group=group_name, config=_config_path(run.config or sweep.config),
                              overrides={**{k: v(name) if callable(v) else v for k, v in sweep.overrides.items()},
                                         **run.overrides, **(sets or {})},
                              varied=dict(run.overrides), reference=dict(run.reference)))
  return runs


def command(run: ResolvedRun, root: str) -> list[str]:
  return ([sys.executable, "-m", "transformer_jax.main", f"--config={run.config}"] +
          [f"--config.{k}={_format_value(v)}" for k, v in run.overrides.items()] +
          [f"--workdir={os.path.join(root, run.name)}"])


def is_finished(root: str, run: ResolvedRun) -> bool:
  return os.path.exists(os.path.join(root, run.name, workdir_lib.RESULTS))


# ---- Launching ----


def launch(runs: list[ResolvedRun], root: str, parallel: int = 1, env: dict | None = None,
           poll_seconds: float = 0.5) -> dict[str, int]:
  """Runs every unfinished run (at most `parallel` at a time), appending its output to ROOT/RUN/log.txt.
  Returns {name: exit status} of the runs started; finished runs are skipped."""
  pending = []
  for run in runs:
    if is_finished(root, run):
      print(f"skip    {run.name} (finished: {workdir_lib.RESULTS} present)", flush=True)
    else:
      pending.append(run)
  statuses, running = {}, {}
  try:
    while pending or running:
      while pending and len(running) < max(parallel, 1):
        run = pending.pop(0)
        workdir = os.path.join(root, run.name)
        os.makedirs(workdir, exist_ok=True)
        resuming = os.path.isdir(workdir_lib.path(workdir, workdir_lib.CHECKPOINTS))
        argv = command(run, root)
        log = open(os.path.join(workdir, LOG), "a")  # appended: earlier attempts' output is kept
        log.write(f"==== {datetime.datetime.now().isoformat(timespec='seconds')} {shlex.join(argv)}\n")
        log.flush()
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        running[run.name] = (process, log, time.time())
        print(f"{'resume' if resuming else 'start'}  {run.name}  (log: {os.path.join(workdir, LOG)})", flush=True)
      for name, (process, log, started) in list(running.items()):
        if process.poll() is not None:
          log.close()
          statuses[name] = process.returncode
          del running[name]
          outcome = "done  " if process.returncode == 0 else f"FAILED (exit {process.returncode})"
          print(f"{outcome}  {name}  ({time.time() - started:.0f} s)", flush=True)
      if running:
        time.sleep(poll_seconds)
  except KeyboardInterrupt:  # children got the same Ctrl-C: they save a checkpoint and exit; wait for that
    for process, log, _ in running.values():
      process.wait()
      log.close()
    raise
  return statuses


LAUNCHERS = ("local", "slurm", "submitit_local")


class RunJob:
  """One run as a submitit job: the same command as a local run, its output appended to ROOT/RUN/log.txt.

  Preempted or timed out on SLURM, the job is requeued (`checkpoint`): main saves on SIGTERM, and the requeued job
  resumes from that checkpoint, as a rerun sweep resumes a local run."""

  def __init__(self, argv: list[str], workdir: str, cwd: str, env: dict | None):
    self.argv, self.workdir, self.cwd, self.env = argv, workdir, cwd, env

  def __call__(self) -> int:
    with open(os.path.join(self.workdir, LOG), "a") as log:
      log.write(f"==== {datetime.datetime.now().isoformat(timespec='seconds')} {shlex.join(self.argv)}\n")
      log.flush()
      return subprocess.run(self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd, env=self.env).returncode

  def checkpoint(self):
    import submitit  # pylint: disable=g-import-not-at-top
    return submitit.helpers.DelayedSubmission(RunJob(self.argv, self.workdir, self.cwd, self.env))


def submit(runs: list[ResolvedRun], root: str, launcher: str, job_parameters: dict, env: dict | None = None,
           wait: bool = True) -> dict[str, int]:
  """Submits every unfinished run as a submitit job (skipping finished ones, exactly as `launch` does) and, with
  `wait`, waits for them. Returns {name: exit status} of the runs that finished here."""
  # On import, submitit configures logging with logging.config.dictConfig, which shuts down every handler already
  # installed (absl's, a test runner's); NOCONFIG leaves logging as it is, and submitit's records reach absl's.
  os.environ.setdefault("SUBMITIT_LOG_LEVEL", "NOCONFIG")
  import submitit  # pylint: disable=g-import-not-at-top
  executor = submitit.AutoExecutor(folder=os.path.join(root, "submitit", "%j"),
                                   cluster="slurm" if launcher == "slurm" else "local")
  executor.update_parameters(**{"name": "transformer_jax", **job_parameters})
  jobs = {}
  for run in runs:
    if is_finished(root, run):
      print(f"skip    {run.name} (finished: {workdir_lib.RESULTS} present)", flush=True)
      continue
    workdir = os.path.join(root, run.name)
    os.makedirs(workdir, exist_ok=True)
    resuming = os.path.isdir(workdir_lib.path(workdir, workdir_lib.CHECKPOINTS))
    jobs[run.name] = executor.submit(RunJob(command(run, root), workdir, os.getcwd(), env))
    print(f"{'resume' if resuming else 'submit'}  {run.name}  (job {jobs[run.name].job_id}, log: "
          f"{os.path.join(workdir, LOG)})", flush=True)
  if not wait:
    print("Submitted; rerun the same command with --aggregate_only when the jobs are done (or without it, to "
          "resubmit unfinished runs).", flush=True)
    return {}
  statuses = {}
  for name, job in jobs.items():
    try:
      statuses[name] = job.result()
    except Exception as error:  # pylint: disable=broad-except  (the job died: report it like a failed run)
      print(f"job {job.job_id} of {name} failed: {str(error)[-500:]}", flush=True)
      statuses[name] = -1
    outcome = "done  " if statuses[name] == 0 else f"FAILED (exit {statuses[name]})"
    print(f"{outcome}  {name}  (job {job.job_id})", flush=True)
  return statuses


# ---- Gathering results ----


def _read_jsonl(path: str) -> list[dict]:
  """Records of a jsonl log, one per step (a resumed run may re-log steps: the last record wins)."""
  if not os.path.exists(path):
    return []
  by_step = {}
  with open(path) as f:
    for line in f:
      line = line.strip()
      if line:
        try:
          record = json.loads(line)
        except ValueError:  # a line cut short by a kill
          continue
        by_step[record.get("step")] = record
  return [by_step[step] for step in sorted(by_step, key=lambda s: (s is None, s))]


def parameter_count(config: dict) -> int:
  """Closed-form parameter count of a resolved config (a dict of config.json or a ConfigDict)."""
  from transformer_jax import model  # pylint: disable=g-import-not-at-top  (jax: only when counting)
  return model.closed_form_parameter_count(model.ModelConfig.from_config(config))


def resolved_config(run: ResolvedRun):
  """The run's config as main builds it (base config file + overrides), without training."""
  return config_base.load_config_file(run.config, {k: _format_value(v) for k, v in run.overrides.items()})


def gather(runs: list[ResolvedRun], root: str) -> list[dict]:
  """One row per run: status, varied keys, final and best metrics, parameter count, reference numbers."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  rows = []
  for run in runs:
    workdir = os.path.join(root, run.name)
    row = {"run": run.name, "group": run.group}
    row.update({k: _format_value(v) for k, v in run.varied.items()})
    results = {}
    if os.path.exists(os.path.join(workdir, workdir_lib.RESULTS)):
      with open(os.path.join(workdir, workdir_lib.RESULTS)) as f:
        results = json.load(f)
    train = _read_jsonl(workdir_lib.path(workdir, workdir_lib.TRAIN_LOG))
    dev = _read_jsonl(workdir_lib.path(workdir, workdir_lib.DEV_CURVE))
    row["status"] = "finished" if results else ("incomplete" if train or dev else "not started")
    config_path = workdir_lib.path(workdir, workdir_lib.CONFIG)
    try:
      if os.path.exists(config_path):
        with open(config_path) as f:
          row["parameters"] = parameter_count(ml_collections.ConfigDict(json.load(f)))
      else:
        row["parameters"] = parameter_count(resolved_config(run))
    except Exception:  # pylint: disable=broad-except  (a broken config shows as a blank, not a crash)
      row["parameters"] = None
    row["step"] = results.get("step", train[-1]["step"] if train else None)
    row["train/seconds"] = results.get("train_seconds", dev[-1]["train_seconds"] if dev else None)
    if train:
      last = train[-1]
      for key in ("train/loss", "train/perplexity", "train/accuracy"):
        row[key] = last.get(key)
      speeds = sorted(r["train/tokens_per_sec"] for r in train if isinstance(r.get("train/tokens_per_sec"), float)
                      and math.isfinite(r["train/tokens_per_sec"]))
      row["train/tokens_per_sec"] = speeds[len(speeds) // 2] if speeds else None  # median over log intervals
    if dev:
      last = dev[-1]
      row["dev/loss"], row["dev/perplexity"] = last.get("dev_loss"), last.get("dev_perplexity")
      scored = [r for r in dev if "dev_bleu" in r]  # a run with num_dev_bleu_sentences=0 evaluates the loss only
      if scored:
        best = max(scored, key=lambda r: r["dev_bleu"])
        row["dev/bleu"], row["dev/bleu_best"], row["dev/best_step"] = (scored[-1]["dev_bleu"], best["dev_bleu"],
                                                                       best["step"])
      row["dev/perplexity_best"] = min((r["dev_perplexity"] for r in dev if "dev_perplexity" in r), default=None)
    row["test/bleu"] = results.get("test_sacrebleu")
    row["test/tokenized_bleu"] = results.get("test_tokenized_bleu")
    row.update({f"reference {k}": v for k, v in run.reference.items()})
    rows.append(row)
  return rows


METRIC_COLUMNS = ("status", "step", "train/seconds", "parameters", "train/loss", "train/perplexity",
                  "train/accuracy", "train/tokens_per_sec", "dev/loss", "dev/perplexity", "dev/perplexity_best",
                  "dev/bleu", "dev/bleu_best", "dev/best_step", "test/bleu", "test/tokenized_bleu")


def _columns(rows: list[dict], runs: list[ResolvedRun]) -> list[str]:
  varied = list(dict.fromkeys(k for run in runs for k in run.varied))
  references = list(dict.fromkeys(k for row in rows for k in row if k.startswith("reference ")))
  columns = []
  for column in ["run", "group"] + varied + list(METRIC_COLUMNS):  # a reported number right after ours
    columns += [column] + [r for r in references if r == f"reference {column}"]
  return columns + [r for r in references if r not in columns]


def _cell(value) -> str:
  if value is None:
    return ""
  if isinstance(value, float):
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
  if isinstance(value, int) and value >= 100_000:
    return f"{value / 1e6:.2f}M"
  return str(value)


def write_tables(rows: list[dict], runs: list[ResolvedRun], root: str, sweep: Sweep, sweep_path: str,
                 plots: list[str]) -> None:
  columns = _columns(rows, runs)
  with open(os.path.join(root, "results.csv"), "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
  # The markdown table keeps the columns a reader compares; results.csv has them all.
  shown = [c for c in columns if c not in ("group", "train/accuracy", "dev/loss", "dev/perplexity_best",
                                           "test/tokenized_bleu", "train/perplexity")]
  lines = [f"# Sweep `{os.path.basename(sweep_path)}`", ""]
  if sweep.description:
    lines += [sweep.description.strip(), ""]
  lines += [f"Command: `python -m transformer_jax.sweep {sweep_path} --root={root}`", "",
            f"Base config `{os.path.relpath(sweep.config) if os.path.isabs(sweep.config) else sweep.config}`; every "
            "run also sets " + (", ".join(f"`{k}={_format_value(v)}`" for k, v in sweep.overrides.items()
                                          if not callable(v)) or "nothing else") + ".", "",
            "Final values are at the last step; `dev/bleu_best` is the best dev BLEU of any evaluation (at "
            "`dev/best_step`); `parameters` is the closed-form count at the config's vocabulary. All columns: "
            "`results.csv`.", "",
            "| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
  for row in rows:
    lines.append("| " + " | ".join(_cell(row.get(c)) for c in shown) + " |")
  lines.append("")
  for plot in plots:
    lines += [f"![{os.path.basename(plot)}](plots/{os.path.basename(plot)})", ""]
  with open(os.path.join(root, "results.md"), "w") as f:
    f.write("\n".join(lines))


def _number(value):
  try:
    return float(value)
  except (TypeError, ValueError):
    return None


def draw_plots(rows: list[dict], runs: list[ResolvedRun], root: str, metric: str) -> list[str]:
  """plots/learning_curves.png (train loss and dev BLEU against step, one line per run) and, for each varied key,
  plots/<metric>_vs_<key>.png. Returns the files written."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  directory = os.path.join(root, "plots")
  os.makedirs(directory, exist_ok=True)
  written = []

  figure, (loss_axis, bleu_axis) = plt.subplots(1, 2, figsize=(12, 4.5))
  for run in runs:
    train = _read_jsonl(workdir_lib.path(os.path.join(root, run.name), workdir_lib.TRAIN_LOG))
    dev = _read_jsonl(workdir_lib.path(os.path.join(root, run.name), workdir_lib.DEV_CURVE))
    if train:
      loss_axis.plot([r["step"] for r in train], [r["train/loss"] for r in train], label=run.name)
    dev = [r for r in dev if "dev_bleu" in r]  # loss-only rows (num_dev_bleu_sentences=0) have no BLEU to draw
    if dev:
      bleu_axis.plot([r["step"] for r in dev], [r["dev_bleu"] for r in dev], marker="o", label=run.name)
  loss_axis.set(xlabel="step", ylabel="train/loss (label-smoothed)", title="training loss")
  bleu_axis.set(xlabel="step", ylabel="dev/bleu (sacreBLEU)", title="dev BLEU")
  for axis in (loss_axis, bleu_axis):
    axis.grid(alpha=0.3)
  handles, labels = loss_axis.get_legend_handles_labels()
  if not handles:
    handles, labels = bleu_axis.get_legend_handles_labels()
  if handles:
    figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), fontsize=7)
    figure.tight_layout(rect=(0, 0.06 * (1 + (len(labels) - 1) // 3), 1, 1))
  path = os.path.join(directory, "learning_curves.png")
  figure.savefig(path, dpi=100)
  plt.close(figure)
  written.append(path)

  varied = list(dict.fromkeys(k for run in runs for k in run.varied))
  for key in varied:
    points = [(row.get(key), _number(row.get(metric)), row) for row in rows if key in row]
    points = [(x, y, row) for x, y, row in points if y is not None]
    if len({x for x, _, _ in points}) < 2:
      continue
    numeric = all(_number(x) is not None for x, _, _ in points)
    order = sorted({x for x, _, _ in points}, key=lambda x: _number(x) if numeric else str(x))
    series = {}
    for x, y, row in points:  # one line per combination of the other varied keys
      label = ", ".join(f"{k}={row[k]}" for k in varied if k != key and k in row) or metric
      series.setdefault(label, []).append((_number(x) if numeric else order.index(x), y))
    figure, axis = plt.subplots(figsize=(6, 4.5))
    for label, xy in series.items():
      xy.sort()
      axis.plot([x for x, _ in xy], [y for _, y in xy], marker="o", label=label)
    if not numeric:
      axis.set_xticks(range(len(order)), order)
    else:
      if all(_number(x) > 0 for x in order) and max(map(_number, order)) / min(map(_number, order)) >= 8:
        axis.set_xscale("log", base=2)
      axis.set_xticks([_number(x) for x in order], order)  # ticks at the values tried
    axis.set(xlabel=key, ylabel=metric, title=f"{metric} against {key}")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    figure.tight_layout()
    path = os.path.join(directory, f"{metric.replace('/', '_')}_vs_{key}.png")
    figure.savefig(path, dpi=100)
    plt.close(figure)
    written.append(path)
  return written


def aggregate(runs: list[ResolvedRun], root: str, sweep: Sweep, sweep_path: str, metric: str | None = None
              ) -> list[dict]:
  """Writes ROOT/results.csv, ROOT/results.md and ROOT/plots/*.png; returns the rows."""
  os.makedirs(root, exist_ok=True)
  rows = gather(runs, root)
  plots = draw_plots(rows, runs, root, metric or sweep.metric)
  write_tables(rows, runs, root, sweep, sweep_path, plots)
  return rows


def parameter_table(runs: list[ResolvedRun]) -> str:
  """Markdown: each run's closed-form parameter count beside the reference count (if the run has one)."""
  lines = ["| run | vocabulary | parameters (ours) | reference parameters | difference |", "|---|---|---|---|---|"]
  for run in runs:
    config = resolved_config(run)
    ours = parameter_count(config)
    reference = run.reference.get("parameters")
    difference = f"{(ours - reference) / reference:+.1%}" if reference else ""
    lines.append(f"| {run.name} | {config.vocab_size} | {ours / 1e6:.2f}M | "
                 f"{f'{reference / 1e6:.0f}M' if reference else ''} | {difference} |")
  return "\n".join(lines)


# ---- Command line ----


def run_sweep(sweep_path: str, root: str, parallel: int = 1, group: str | None = None, sets: list[str] = (),
              print_commands: bool = False, aggregate_only: bool = False, metric: str | None = None,
              env: dict | None = None, launcher: str | None = None, wait: bool = True) -> int:
  """What the command does; returns its exit status (1 if a run failed). launcher: LAUNCHERS (default: the sweep
  file's)."""
  sweep = load_sweep(sweep_path)
  launcher = launcher or sweep.launcher
  if launcher not in LAUNCHERS:
    raise ConfigError(f"launcher {launcher!r}: must be one of {LAUNCHERS}")
  runs = resolve(sweep, group, parse_sets(list(sets)))
  if print_commands:
    for run in runs:
      workdir = shlex.quote(os.path.join(root, run.name))
      print(f"mkdir -p {workdir} && {shlex.join(command(run, root))} >> {workdir}/{LOG} 2>&1")
    return 0
  os.makedirs(root, exist_ok=True)
  statuses = {}
  if not aggregate_only:
    with open(os.path.join(root, "sweep.json"), "w") as f:  # what was asked for, beside the results
      json.dump({"sweep_file": os.path.abspath(sweep_path), "runs": [
          dict(dataclasses.asdict(run), command=command(run, root)) for run in runs]}, f, indent=2, default=str)
    if launcher == "local":
      statuses = launch(runs, root, parallel, env)
    else:
      statuses = submit(runs, root, launcher, sweep.job_parameters, env, wait)
      if not wait:
        return 0
  aggregate(runs, root, sweep, sweep_path, metric)
  print(f"Results: {os.path.join(root, 'results.md')}, {os.path.join(root, 'results.csv')}, "
        f"{os.path.join(root, 'plots')}/", flush=True)
  failed = [name for name, status in statuses.items() if status != 0]
  if failed:
    print(f"{len(failed)} run(s) failed: {', '.join(failed)}. See their log.txt; rerun the same command to retry "
          "(they resume from their latest checkpoint).", flush=True)
  return 1 if failed else 0


def _define_flags():
  flags.DEFINE_string("root", None, "Directory holding one workdir per run, results.csv, results.md and plots/ "
                      "(default: runs/<sweep file name>).")
  flags.DEFINE_integer("parallel", 1, "How many runs train at the same time (on one CPU machine, 1: each run "
                       "already uses every core).")
  flags.DEFINE_string("group", None, "Run only this group of the sweep (default: all groups).")
  flags.DEFINE_multi_string("set", [], "KEY=VALUE: an extra config override for every run, e.g. --set "
                            "num_train_steps=100 (repeatable; run names do not change).")
  flags.DEFINE_bool("print_commands", False, "Print one shell command per run (for a scheduler of your own) and "
                    "exit.")
  flags.DEFINE_enum("launcher", None, LAUNCHERS, "Where runs train (default: the sweep file's launcher, usually "
                    "local): local = subprocesses here (--parallel at a time); slurm = one SLURM job per run through "
                    "submitit (job settings: the sweep's job_parameters); submitit_local = submitit's local "
                    "executor.")
  flags.DEFINE_bool("wait", True, "With a submitit launcher: wait for the jobs, then write the results (--nowait: "
                    "submit and exit; --aggregate_only later).")
  flags.DEFINE_bool("aggregate_only", False, "Do not launch anything: only rebuild results.csv, results.md, plots.")
  flags.DEFINE_string("metric", None, "results.csv column to plot against each varied key (default: the sweep's, "
                      "usually dev/bleu_best).")
  flags.DEFINE_bool("parameter_counts", False, "Print each run's closed-form parameter count beside its reference "
                    "count (no training) and exit.")
  return flags.FLAGS


def main(argv):
  if len(argv) != 2:
    raise app.UsageError("Give exactly one sweep file, e.g. python -m transformer_jax.sweep "
                         "experiments/sweeps/embedded_heads_layers.py --root=runs/heads_layers")
  sweep_path = argv[1]
  if FLAGS.parameter_counts:
    print(parameter_table(resolve(load_sweep(sweep_path), FLAGS.group, parse_sets(FLAGS.set))))
    return 0
  root = FLAGS.root or os.path.join("runs", os.path.splitext(os.path.basename(sweep_path))[0])
  return run_sweep(sweep_path, root, FLAGS.parallel, FLAGS.group, FLAGS.set, FLAGS.print_commands,
                   FLAGS.aggregate_only, FLAGS.metric, launcher=FLAGS.launcher, wait=FLAGS.wait)


if __name__ == "__main__":
  FLAGS = _define_flags()  # defined by __main__, so --helpshort lists them
  # Run the code of the imported module, whose Sweep class is the one sweep files import (not __main__'s copy).
  from transformer_jax import sweep as _imported  # pylint: disable=g-import-not-at-top
  _imported.FLAGS = FLAGS
  from transformer_jax import cli  # pylint: disable=g-import-not-at-top
  cli.run(_imported.main)
