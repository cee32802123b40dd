"""Part "multi30k" of the device check: the real training command on Multi30k, killed and resumed, against a CPU
reference.

The command is `python -m transformer_jax.main --config=configs/multi30k_ende.py` (its CPU setting: 3 layers,
d_model 128, packed rows of 96, 2048 tokens a batch) for its first `steps` steps, with the learning-rate cooldown
off so that those steps are exactly the config's own first steps, in bfloat16 on the accelerator:

1. one invocation trains until the checkpoint of step `checkpoint_every` is complete on disk, and is then killed
   with SIGKILL (no orderly save: whatever it was doing is lost);
2. the same command again resumes from that checkpoint, trains to `steps`, and evaluates once on the dev set: dev
   loss, and dev BLEU of `dev_bleu_sentences` sentences translated by the jitted beam search (beam 4).

Its train loss (train_log.jsonl: the mean over each `log_every` steps) is then held against the same steps run
uninterrupted in float32 on a CPU (the committed reference file, made by `--write_multi30k_reference`): the same
batches (a function of the step) and the same dropout masks (threefry bits are the same on every platform). The
tolerance is fixed here in advance: RELATIVE_TOLERANCE at every logged step after COMPARE_AFTER_STEP (the first
steps move fast, so a small shift in time is a large one in loss); the dev loss likewise. Steps that both
invocations logged (after the checkpoint, before the kill) must agree within RESUME_TOLERANCE: the resumed run
reads the same batches and masks from the restored state.

Only the standard library here: the check's parent process never starts JAX (the training runs in subprocesses).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time

from transformer_jax.data import multi30k

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = "configs/multi30k_ende.py"
DEFAULT_DIR = "data/multi30k"
DEFAULT_REFERENCE = os.path.join("benchmarks", "results", "multi30k_cpu_reference.json")

# The pass conditions, fixed before any accelerator run.
RELATIVE_TOLERANCE = 0.02  # |accelerator bf16 loss - CPU float32 loss| / CPU loss, at each logged step after ...
COMPARE_AFTER_STEP = 50
RESUME_TOLERANCE = 0.01  # the same step logged before the kill and after the resume

# The accelerator command's defaults (device_check's flags): the config's first 200 steps, a loss logged every 10,
# the kill after the checkpoint of step 100, dev BLEU of 256 sentences in one beam-search batch.
STEPS, LOG_EVERY, CHECKPOINT_EVERY, DEV_BLEU_SENTENCES, DTYPE = 200, 10, 100, 256, "bfloat16"

UNBOUNDED_STEPS = 1_000_000  # the killed invocation's num_train_steps: it never ends by itself
# Settings that change neither the batches nor the training arithmetic: the reference may differ in these.
NOT_COMPARED = ("dtype", "num_dev_bleu_sentences", "decode_batch_size")


def settings(steps: int = STEPS, log_every: int = LOG_EVERY, checkpoint_every: int = CHECKPOINT_EVERY,
             dev_bleu_sentences: int = DEV_BLEU_SENTENCES, dtype: str = DTYPE, extra: dict | None = None) -> dict:
  """The --config.KEY=VALUE overrides of the check's training command (and of the reference's)."""
  return {"num_train_steps": steps, "learning_rate_cooldown_steps": 0, "log_every_steps": log_every,
          "checkpoint_every_steps": checkpoint_every, "eval_every_steps": steps, "max_train_seconds": 0,
          "num_test_sentences": -1, "num_dev_bleu_sentences": dev_bleu_sentences,
          "decode_batch_size": max(dev_bleu_sentences, 1), "dtype": dtype, **(extra or {})}


def parse_settings(items: list[str]) -> dict:
  """KEY=VALUE strings as given on the command line (values stay strings, as the training command reads them)."""
  out = {}
  for item in items:
    key, sep, value = item.partition("=")
    if not sep or not key:
      raise ValueError(f"--multi30k_set={item!r}: expected KEY=VALUE")
    out[key] = value
  return out


def command(directory: str, workdir: str, overrides: dict) -> list[str]:
  return [sys.executable, "-m", "transformer_jax.main", f"--config={CONFIG}",
          f"--config.multi30k_dir={os.path.abspath(directory)}", f"--workdir={workdir}",
          *[f"--config.{key}={value}" for key, value in overrides.items()]]


def read_jsonl(path: str) -> list[dict]:
  """The file's rows; a line cut short (a process killed while writing it) is left out."""
  rows = []
  if os.path.exists(path):
    with open(path) as f:
      for line in f:
        try:
          rows.append(json.loads(line))
        except json.JSONDecodeError:
          pass
  return rows


def complete_checkpoints(workdir: str) -> list[int]:
  """Steps of the complete checkpoints: Orbax writes into a temporary directory and renames it to the step when
  the write is complete."""
  directory = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(directory):
    return []
  return sorted(int(name) for name in os.listdir(directory) if name.isdigit())


def logged_steps(log_path: str) -> list[int]:
  with open(log_path, errors="replace") as f:
    return [int(m.group(1)) for m in re.finditer(r"\] step (\d+)/\d+ \| loss", f.read())]


def tail(path: str, chars: int = 3000) -> str:
  with open(path, errors="replace") as f:
    return f.read()[-chars:]


def md5(path: str) -> str | None:
  if not os.path.exists(path):
    return None
  with open(path, "rb") as f:
    return hashlib.md5(f.read()).hexdigest()


def launch(args: list[str], log_path: str, env: dict | None = None) -> subprocess.Popen:
  log = open(log_path, "a")  # pylint: disable=consider-using-with  (closed with the process, below)
  log.write(f"\n$ {' '.join(args)}\n")
  log.flush()
  process = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
  process.log_file = log
  return process


def finish(process: subprocess.Popen, deadline: float) -> int | None:
  """Waits for the process until the deadline; kills it there (None: it was killed)."""
  try:
    return process.wait(timeout=max(0.0, deadline - time.time()))
  except subprocess.TimeoutExpired:
    process.kill()
    process.wait()
    return None
  finally:
    process.log_file.close()


def loss_by_step(rows: list[dict]) -> dict[int, float]:
  """{step: train loss}; where a step was logged twice (before a kill and after the resume), the later row."""
  return {int(row["step"]): float(row["train/loss"]) for row in rows if "train/loss" in row}


def compare_curves(run: dict[int, float], reference: dict[int, float], after_step: int = COMPARE_AFTER_STEP,
                   tolerance: float = RELATIVE_TOLERANCE) -> dict:
  """The run's loss against the reference's at every step both logged after `after_step`."""
  steps = sorted(step for step in run if step in reference and step > after_step)
  rows = [{"step": step, "loss": run[step], "reference_loss": reference[step],
           "relative_difference": abs(run[step] - reference[step]) / abs(reference[step])} for step in steps]
  worst = max((row["relative_difference"] for row in rows), default=None)
  missing = sorted(step for step in reference if step > after_step and step not in run)
  passed = bool(rows) and not missing and worst <= tolerance
  return {"status": "pass" if passed else "fail", "tolerance": tolerance, "after_step": after_step,
          "compared_steps": len(rows), "missing_steps": missing, "max_relative_difference": worst, "rows": rows}


def compare_resumed(before_kill: dict[int, float], resumed: dict[int, float],
                    tolerance: float = RESUME_TOLERANCE) -> dict:
  """Steps logged by both invocations: the resumed run must repeat the killed one's losses."""
  steps = sorted(set(before_kill) & set(resumed))
  rows = [{"step": step, "before_kill": before_kill[step], "after_resume": resumed[step],
           "relative_difference": abs(before_kill[step] - resumed[step]) / abs(before_kill[step])} for step in steps]
  worst = max((row["relative_difference"] for row in rows), default=None)
  return {"status": "pass" if worst is None or worst <= tolerance else "fail", "tolerance": tolerance,
          "compared_steps": len(rows), "rows": rows, "max_relative_difference": worst}


def read_reference(path: str, overrides: dict) -> tuple[dict | None, str | None]:
  """(the reference, None), or (None, why it cannot be compared)."""
  if not path or not os.path.exists(path):
    return None, f"no reference file at {path!r} (python -m benchmarks.device_check --write_multi30k_reference)"
  with open(path) as f:
    reference = json.load(f)
  mine = {k: str(v) for k, v in overrides.items() if k not in NOT_COMPARED}
  theirs = {k: str(v) for k, v in reference["settings"].items() if k not in NOT_COMPARED}
  if mine != theirs:
    differ = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    return None, f"the reference {path} was made with other settings ({', '.join(differ)})"
  return reference, None


def check(directory: str, work_root: str, out_dir: str, deadline: float, overrides: dict, reference_path: str,
          log=print, compare_after: int = COMPARE_AFTER_STEP) -> dict:
  """Part (b): the killed and resumed training run, its dev evaluation and the comparison with the reference.
  Writes multi30k_train.log (both invocations' output), multi30k_train_log.jsonl and multi30k_dev_curve.jsonl into
  out_dir. Both invocations share a JAX compilation cache in work_root (unless JAX_COMPILATION_CACHE_DIR is set):
  the resumed one loads the train step instead of compiling it again."""
  result = {"status": "running", "command_config": CONFIG, "multi30k_dir": directory, "settings": overrides,
            "thresholds": {"loss_relative_tolerance": RELATIVE_TOLERANCE, "compare_after_step": compare_after,
                           "resume_relative_tolerance": RESUME_TOLERANCE, "reference": reference_path}}
  problem = multi30k.missing_files_problem(directory, ("en", "de"))
  if problem:
    result.update(status="skipped", reason=f"Multi30k files missing: {problem}")
    return result
  steps, checkpoint_at = int(overrides["num_train_steps"]), int(overrides["checkpoint_every_steps"])
  workdir = os.path.join(work_root, "multi30k_workdir")
  shutil.rmtree(workdir, ignore_errors=True)
  log_path = os.path.join(out_dir, "multi30k_train.log")
  env = dict(os.environ)
  env.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(work_root, "jax_compilation_cache"))
  started = time.time()

  # 1: until the checkpoint of step `checkpoint_at` is complete, then SIGKILL. It runs unbounded and never
  # evaluates, so nothing but the kill ends it.
  first = launch(command(directory, workdir, {**overrides, "num_train_steps": UNBOUNDED_STEPS,
                                               "eval_every_steps": 0}), log_path, env)
  log(f"multi30k: training until the checkpoint of step {checkpoint_at} is complete, then SIGKILL")
  while first.poll() is None and checkpoint_at not in complete_checkpoints(workdir) and time.time() < deadline:
    time.sleep(0.05)
  if first.poll() is not None:
    first.log_file.close()
    result.update(status="error", error=f"the first invocation exited by itself (code {first.returncode}) before "
                  f"the checkpoint of step {checkpoint_at}", log_tail=tail(log_path))
    return result
  first.send_signal(signal.SIGKILL)
  first.wait()
  first.log_file.close()
  if checkpoint_at not in complete_checkpoints(workdir):
    result.update(status="timeout", error=f"no checkpoint of step {checkpoint_at} within the part's time",
                  log_tail=tail(log_path))
    return result
  killed = {"killed_by": "SIGKILL", "seconds": round(time.time() - started, 1),
            "last_logged_step": max(logged_steps(log_path), default=0),
            "complete_checkpoints": complete_checkpoints(workdir)}
  result["killed_run"] = killed
  rows_before_kill = read_jsonl(os.path.join(workdir, "train_log.jsonl"))
  before_kill = loss_by_step(rows_before_kill)
  log(f"multi30k: killed after {killed['seconds']} s (last logged step {killed['last_logged_step']}, complete "
      f"checkpoints {killed['complete_checkpoints']}); resuming to step {steps}")

  # 2: the same command resumes, trains to `steps` and evaluates on dev.
  resumed_at = time.time()
  second = launch(command(directory, workdir, overrides), log_path, env)
  code = finish(second, deadline)
  with open(log_path, errors="replace") as f:
    text = f.read()
  resumed_from = re.findall(r"Resumed from the checkpoint at step (\d+)\.", text)
  result["resumed_run"] = {"exit_code": code, "seconds": round(time.time() - resumed_at, 1),
                           "resumed_from_step": int(resumed_from[-1]) if resumed_from else None}
  if code != 0:
    result.update(status="timeout" if code is None else "error", log_tail=tail(log_path),
                  error="the resumed invocation " + ("ran past the part's time" if code is None else
                                                     f"exited with code {code}"))
    return result

  rows = read_jsonl(os.path.join(workdir, "train_log.jsonl"))
  dev = read_jsonl(os.path.join(workdir, "dev_curve.jsonl"))
  for name, source in (("multi30k_train_log.jsonl", "train_log.jsonl"), ("multi30k_dev_curve.jsonl",
                                                                         "dev_curve.jsonl")):
    if os.path.exists(os.path.join(workdir, source)):
      shutil.copyfile(os.path.join(workdir, source), os.path.join(out_dir, name))
  curve = loss_by_step(rows)
  resumed_rows = loss_by_step(rows[len(rows_before_kill):])
  final = dev[-1] if dev else {}
  result.update(
      seconds=round(time.time() - started, 1), final_step=max(curve, default=None), train_loss=curve,
      dev={key: final.get(key) for key in ("step", "dev_loss", "dev_perplexity", "dev_bleu", "dev_tokenized_bleu")},
      tokenizer_md5=md5(os.path.join(workdir, "sentencepiece.model")),
      resume=compare_resumed(before_kill, resumed_rows))
  result["resume"]["resumed_from_expected_step"] = result["resumed_run"]["resumed_from_step"] == checkpoint_at
  steps_per_sec = [row["train/steps_per_sec"] for row in rows[len(rows_before_kill):] if "train/steps_per_sec" in row]
  if steps_per_sec:
    result["resumed_steps_per_sec_last_log"] = steps_per_sec[-1]

  reference, why_not = read_reference(reference_path, overrides)
  if reference is None:
    result["loss_curve"] = {"status": "not_compared", "reason": why_not}
  else:
    result["loss_curve"] = compare_curves(curve, {int(k): v for k, v in reference["train_loss"].items()},
                                          compare_after)
    result["loss_curve"]["reference_tokenizer_md5_matches"] = reference.get("tokenizer_md5") == result["tokenizer_md5"]
    if reference.get("dev_loss") is not None and result["dev"]["dev_loss"] is not None:
      difference = abs(result["dev"]["dev_loss"] - reference["dev_loss"]) / reference["dev_loss"]
      result["dev_loss_vs_reference"] = {"dev_loss": result["dev"]["dev_loss"], "reference": reference["dev_loss"],
                                         "relative_difference": difference,
                                         "status": "pass" if difference <= RELATIVE_TOLERANCE else "fail"}
  bleu = result["dev"]["dev_bleu"]
  result["dev_bleu_status"] = ("pass" if isinstance(bleu, (int, float)) and 0 <= bleu <= 100 else
                               "fail" if int(overrides["num_dev_bleu_sentences"]) > 0 else "not_run")
  verdicts = [result["resume"]["status"] == "pass", result["resume"]["resumed_from_expected_step"],
              result["final_step"] == steps, result["dev_bleu_status"] != "fail",
              result["loss_curve"]["status"] in ("pass", "not_compared"),
              result.get("dev_loss_vs_reference", {}).get("status", "pass") == "pass"]
  result.update(status="ok", passed=all(verdicts))
  log(f"multi30k: done in {result['seconds']} s; resumed from step {result['resumed_run']['resumed_from_step']}, "
      f"dev loss {result['dev']['dev_loss']}, dev BLEU {bleu}, loss curve {result['loss_curve']['status']}"
      + (f" (max relative difference {result['loss_curve']['max_relative_difference']:.4f})"
         if result["loss_curve"].get("max_relative_difference") is not None else ""))
  return result


def write_reference(directory: str, work_root: str, overrides: dict, path: str, log=print) -> dict:
  """Runs the same steps uninterrupted in float32 on the CPU (one XLA device, as one accelerator is) and writes the
  reference file: the train loss at each logged step and the dev loss."""
  problem = multi30k.missing_files_problem(directory, ("en", "de"))
  if problem:
    raise FileNotFoundError(problem)
  overrides = {**overrides, "dtype": "float32", "num_dev_bleu_sentences": 0}
  workdir = os.path.join(work_root, "multi30k_reference_workdir")
  shutil.rmtree(workdir, ignore_errors=True)
  os.makedirs(work_root, exist_ok=True)
  env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=1")
  log_path = os.path.join(work_root, "multi30k_reference.log")
  started = time.time()
  log(f"multi30k reference: {int(overrides['num_train_steps'])} steps in float32 on the CPU (log: {log_path})")
  process = launch(command(directory, workdir, overrides), log_path, env)
  code = finish(process, float("inf"))
  if code != 0:
    raise RuntimeError(f"the reference run exited with code {code}:\n{tail(log_path)}")
  dev = read_jsonl(os.path.join(workdir, "dev_curve.jsonl"))
  with open(os.path.join(workdir, "run_info.json")) as f:
    run_info = json.load(f)  # one entry per invocation
  info = run_info[-1] if isinstance(run_info, list) else run_info
  reference = {
      "what": f"train loss of {CONFIG} at these settings, uninterrupted, float32 on the CPU (one XLA device)",
      "made_by": "python -m benchmarks.device_check --write_multi30k_reference=" + path,
      "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "settings": overrides, "platform": "cpu", "machine": platform.machine(), "python": platform.python_version(),
      "versions": info.get("versions"), "wall_seconds": round(time.time() - started, 1),
      "tokenizer_md5": md5(os.path.join(workdir, "sentencepiece.model")),
      "dev_loss": dev[-1].get("dev_loss") if dev else None,
      "train_loss": {str(k): v for k, v in loss_by_step(read_jsonl(os.path.join(workdir, "train_log.jsonl"))).items()}}
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w") as f:
    json.dump(reference, f, indent=2)
    f.write("\n")
  log(f"multi30k reference: {len(reference['train_loss'])} logged steps, dev loss {reference['dev_loss']}: {path}")
  return reference
