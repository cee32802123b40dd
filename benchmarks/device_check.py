r"""The device check: one prepared command for one accelerator that fits a 10-minute call, its results in one JSON.

  python -m benchmarks.device_check --output_dir=$OUT            # on a GPU: about 9 minutes (--time_budget_s=540)
  python -m benchmarks.device_check --tiny --output_dir=/tmp/dc  # the whole thing at tiny sizes, on a CPU
  python -m benchmarks.device_check --write_multi30k_reference   # the CPU float32 reference of part (b), once

Everything goes to --output_dir (default: $OUT where that is set, else device_check_out/): device_check.json,
rewritten after each part and while a part runs; device_check.log (every line the check and its parts printed);
and from part (b) multi30k_train.log, multi30k_train_log.jsonl and multi30k_dev_curve.jsonl.

Parts, in this order, each with its share of --time_budget_s (PART_SHARES; what a part leaves unused goes to the
later ones). Parts (a), (c) and (d) run in their own Python process, which the check kills at the part's end:
a crash, a hang or an out-of-memory in one part is recorded (status "error" or "timeout", with the log's tail)
and the next part starts on a fresh process and device. The parent process never starts JAX.

(a) attention (benchmarks/attention_check.py): naive, xla and cudnn in bfloat16 and float32 against a float64
    reference on padded and empty rows, three masks, several bucket lengths; thresholds fixed in advance.
(b) multi30k (benchmarks/multi30k_check.py): the real training command on Multi30k in bfloat16, a checkpoint, a
    SIGKILL, a resume, one dev evaluation with the jitted beam search, and the loss curve against a float32 CPU
    run of the same steps (benchmarks/results/multi30k_cpu_reference.json). Skipped, and recorded so, without the
    Multi30k files (--multi30k_dir, default data/multi30k/).
(c) throughput (benchmarks/throughput_check.py): a bf16 matmul as the measured peak, then Transformer-base and -big
    train steps at the paper's batch (packed rows; then cudnn and xla on bucketed rows), speed, memory, MFU against
    the datasheet peak and against the measured matmul; beam-4 decoding if time is left.
(d) torch: the same model and step in PyTorch, on the same batches (eager, then torch.compile'd where time is left),
    MFU against both peaks.

Needs jax, flax, optax, numpy, absl (and torch for (d)); part (b) also what the training command imports
(ml_collections, sentencepiece, sacrebleu, sacremoses, orbax-checkpoint): no TensorFlow, tfds or clu.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import traceback

from absl import flags

from benchmarks import multi30k_check
from transformer_jax import cli

PARTS = ("attention", "multi30k", "throughput", "torch")
# Seconds of the default 540-second budget each part is planned for; a part gets this share of what is left.
PART_SHARES = {"attention": 90, "multi30k": 210, "throughput": 180, "torch": 60}
KILL_GRACE_S = 5.0  # a part's process is killed this long after its deadline
PART_OUTPUT_FILES = ("device_check.json", "device_check.log", "multi30k_train.log", "multi30k_train_log.jsonl",
                     "multi30k_dev_curve.jsonl")

# --tiny: every part at sizes a 2-core CPU runs in seconds (the test's setting); flags given explicitly win.
TINY = {
    "attention_lengths": ["8", "16"], "attention_rows": 4, "attention_heads": 2, "attention_head_dim": 8,
    "multi30k_steps": 6, "multi30k_checkpoint_every": 3, "multi30k_log_every": 1, "multi30k_dev_bleu_sentences": 4,
    "multi30k_compare_after": 0,
    "multi30k_set": ["vocab_size=120", "tokenizer_train_sentences=400", "num_layers=1", "d_model=32", "d_ff=64",
                     "num_heads=2", "tokens_per_batch=192", "bucket_lengths=(96,)", "max_decode_length=16",
                     "decode_extra_length=4", "warmup_steps=10"],
    "workloads": ["tiny"], "impls": ["xla_packed", "cudnn"], "steps": 2, "warmup": 1, "decode": False,
    "torch_compile": False, "matmul_size": 256, "min_item_s": 0.0,
}

FLAGS = flags.FLAGS


def _define_flags():
  flags.DEFINE_string("output_dir", None, "Where every file goes; default $OUT where set, else device_check_out.")
  flags.DEFINE_string("work_dir", None, "Scratch files (the training run's workdir); default a new temporary "
                      "directory.")
  flags.DEFINE_list("parts", list(PARTS), f"Parts to run, from {PARTS}; they run in that order.")
  flags.DEFINE_float("time_budget_s", 540.0, "Seconds for all parts together (a 600-second call: 60 s left for "
                     "the start and the wheels).")
  flags.DEFINE_bool("tiny", False, "Every part at tiny sizes (for a CPU; tests/test_device_check.py).")
  # (a)
  flags.DEFINE_list("attention_lengths", ["32", "96", "256"], "Bucket lengths of the attention check.")
  flags.DEFINE_integer("attention_rows", 8, "Rows per batch (1 full, 2 empty, the rest padded).")
  flags.DEFINE_integer("attention_heads", 8, "Heads.")
  flags.DEFINE_integer("attention_head_dim", 64, "Head size (d_k = d_v).")
  # (b)
  flags.DEFINE_string("multi30k_dir", multi30k_check.DEFAULT_DIR, "Directory with train/val/test_2016_flickr"
                      ".{en,de}.gz.")
  flags.DEFINE_integer("multi30k_steps", multi30k_check.STEPS, "Train steps of part (b).")
  flags.DEFINE_integer("multi30k_checkpoint_every", multi30k_check.CHECKPOINT_EVERY, "Checkpoint period; the first "
                       "invocation is killed once this step's checkpoint is complete.")
  flags.DEFINE_integer("multi30k_log_every", multi30k_check.LOG_EVERY, "Steps per logged train loss.")
  flags.DEFINE_integer("multi30k_dev_bleu_sentences", multi30k_check.DEV_BLEU_SENTENCES, "Dev sentences translated "
                       "for dev BLEU (one beam-search batch).")
  flags.DEFINE_string("multi30k_dtype", multi30k_check.DTYPE, "Compute dtype of part (b) (the reference is float32).")
  flags.DEFINE_list("multi30k_set", [], "More --config.KEY=VALUE overrides of part (b), as KEY=VALUE.")
  flags.DEFINE_string("multi30k_reference", multi30k_check.DEFAULT_REFERENCE, "The CPU float32 reference file.")
  flags.DEFINE_integer("multi30k_compare_after", multi30k_check.COMPARE_AFTER_STEP, "The loss curve is compared "
                       "at the logged steps after this one.")
  flags.DEFINE_string("write_multi30k_reference", None, "Instead of the check: run part (b)'s steps uninterrupted "
                      "in float32 on the CPU and write the reference file here (e.g. "
                      f"{multi30k_check.DEFAULT_REFERENCE}).")
  # (c), (d)
  flags.DEFINE_list("workloads", ["base", "big"], "Workloads of parts (c) and (d): base, big, tiny.")
  flags.DEFINE_list("impls", ["xla_packed", "cudnn", "xla"], "Train paths of part (c), in this order.")
  flags.DEFINE_integer("steps", 10, "Timed train steps per path.")
  flags.DEFINE_integer("warmup", 3, "Untimed train steps (the first compiles).")
  flags.DEFINE_bool("decode", True, "Beam-4 decoding after the train paths, where time is left.")
  flags.DEFINE_bool("torch_compile", True, "torch.compile the PyTorch model.")
  flags.DEFINE_integer("matmul_size", 8192, "Side of the bf16 matmul timed as the measured peak.")
  flags.DEFINE_float("peak_tflops", 0.0, "Datasheet peak TFLOP/s per device; 0 = dense bf16 peak by device kind.")
  flags.DEFINE_float("min_item_s", 20.0, "A train path, decoding or PyTorch workload starts only while this much "
                     "of its part's time is left.")
  # Internal: one part in its own process.
  flags.DEFINE_enum("child", None, ["attention", "throughput", "torch"], "Internal: run this part only.")
  flags.DEFINE_string("child_json", None, "Internal: the part's JSON.")
  flags.DEFINE_float("deadline", None, "Internal: the part's end, in seconds since the epoch.")
  flags.DEFINE_float("datasheet_peak_tflops", 0.0, "Internal: part (c)'s datasheet peak, for part (d).")
  flags.DEFINE_float("measured_matmul_tflops", 0.0, "Internal: part (c)'s measured peak, for part (d).")


def value(name: str):
  """A flag's value, or under --tiny the tiny setting where the flag was not given."""
  if FLAGS.tiny and name in TINY and not FLAGS[name].present:
    return TINY[name]
  return FLAGS[name].value


def multi30k_overrides() -> dict:
  extra = multi30k_check.parse_settings(value("multi30k_set"))
  return multi30k_check.settings(value("multi30k_steps"), value("multi30k_log_every"),
                                 value("multi30k_checkpoint_every"), value("multi30k_dev_bleu_sentences"),
                                 value("multi30k_dtype"), extra)


def write_json(path: str, data: dict) -> None:
  """Atomically: a reader (or a kill) never sees half a file."""
  temporary = f"{path}.tmp{os.getpid()}"
  with open(temporary, "w") as f:
    json.dump(data, f, indent=2, default=str)
    f.write("\n")
  os.replace(temporary, path)


def read_json(path: str) -> dict | None:
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


class Log:
  """Lines to stderr and to device_check.log."""

  def __init__(self, path: str):
    self.file = open(path, "a", buffering=1)  # pylint: disable=consider-using-with
    self.lock = threading.Lock()

  def line(self, text: str) -> None:
    with self.lock:
      print(text, file=sys.stderr, flush=True)
      self.file.write(text + "\n")

  def __call__(self, message: str) -> None:
    self.line(f"[device_check {time.strftime('%H:%M:%S')}] {message}")


# ---- A part in its own process ----

def child_main() -> None:
  """Runs one part and keeps its JSON (--child_json) current."""
  part, path, deadline = FLAGS.child, FLAGS.child_json, FLAGS.deadline
  log = lambda message: print(f"[{part} {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
  record = lambda result: write_json(path, result)
  if part == "attention":
    from benchmarks import attention_check, throughput_check  # pylint: disable=g-import-not-at-top
    environment = throughput_check.environment()
    log(f"{environment['device_kind']} ({environment['platform']}), jax {environment['versions'].get('jax')}")
    result = attention_check.run([int(x) for x in value("attention_lengths")], value("attention_rows"),
                                 value("attention_heads"), value("attention_head_dim"), 0, deadline,
                                 lambda r: record({"environment": environment, **r}), log)
    record({"environment": environment, **result})
  elif part == "throughput":
    from benchmarks import throughput_check  # pylint: disable=g-import-not-at-top
    result = throughput_check.run_jax(value("workloads"), value("impls"), value("steps"), value("warmup"), 0,
                                      value("matmul_size"), value("peak_tflops"), value("decode"), deadline,
                                      value("min_item_s"), record, log)
    record(result)
  else:  # torch: JAX's backend is never started here (the peaks come from part (c))
    from benchmarks import throughput_check  # pylint: disable=g-import-not-at-top
    result = throughput_check.run_torch(value("workloads"), value("steps"), value("warmup"), 0, value("torch_compile"),
                                        FLAGS.datasheet_peak_tflops or None, FLAGS.measured_matmul_tflops or None,
                                        deadline, value("min_item_s"), record, log)
    record(result)


def mark_unfinished(data, status: str):
  """Items a killed part left as "running" become `status`."""
  if isinstance(data, dict):
    if data.get("status") == "running":
      data["status"] = status
    for item in data.values():
      mark_unfinished(item, status)
  elif isinstance(data, list):
    for item in data:
      mark_unfinished(item, status)
  return data


def run_child(part: str, budget: float, work_dir: str, log: Log, on_progress, extra_args=()) -> dict:
  """The part in its own process, killed KILL_GRACE_S after its deadline; its JSON with the part's status."""
  path = os.path.join(work_dir, f"part_{part}.json")
  if os.path.exists(path):
    os.remove(path)
  deadline = time.time() + budget
  args = [sys.executable, "-m", "benchmarks.device_check", *sys.argv[1:], f"--child={part}",
          f"--child_json={path}", f"--deadline={deadline}", *extra_args]
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  if part == "torch":  # PyTorch has the device to itself: nothing here may take memory for JAX
    env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
  process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                             env=env, cwd=multi30k_check.ROOT)
  lines = []

  def pump():
    for text in process.stdout:
      lines.append(text)
      log.line(text.rstrip("\n"))

  reader = threading.Thread(target=pump, daemon=True)
  reader.start()
  killed, seen = False, None
  while process.poll() is None:
    if time.time() > deadline + KILL_GRACE_S:
      process.kill()
      killed = True
      break
    try:
      process.wait(timeout=2.0)
    except subprocess.TimeoutExpired:
      pass
    stamp = os.path.getmtime(path) if os.path.exists(path) else None
    if stamp != seen:
      seen = stamp
      on_progress(read_json(path))
  process.wait()
  reader.join(timeout=10)
  result = read_json(path) or {}
  if killed:
    log(f"{part}: killed at the end of its {budget:.0f} s")
    result = mark_unfinished(result, "timeout")
    result.update(status="timeout", error=f"killed at the end of the part's {budget:.0f} s")
  elif process.returncode != 0:
    result = mark_unfinished(result, "error")
    result.update(status="error", error=f"the part's process exited with code {process.returncode}",
                  log_tail="".join(lines)[-3000:])
  else:
    result.setdefault("status", "ok")
  return result


# ---- The check ----

def summary(report: dict) -> dict:
  """The headline numbers of every part, for a reader of the JSON (and the table)."""
  out = {}
  parts = report["parts"]
  attention = parts.get("attention") or {}
  if "variants" in attention:
    out["attention"] = {name: {k: v.get(k) for k in ("status", "max_output_error", "max_grad_error", "threshold")}
                        for name, v in attention["variants"].items()}
    out["attention_passed"] = attention.get("passed")
  m30k = parts.get("multi30k") or {}
  out["multi30k"] = {"status": m30k.get("status"), "passed": m30k.get("passed"), "reason": m30k.get("reason"),
                     "loss_curve": (m30k.get("loss_curve") or {}).get("status"),
                     "max_relative_difference": (m30k.get("loss_curve") or {}).get("max_relative_difference"),
                     "resumed_from_step": (m30k.get("resumed_run") or {}).get("resumed_from_step"),
                     "dev_bleu": (m30k.get("dev") or {}).get("dev_bleu")}
  throughput, torch = parts.get("throughput") or {}, parts.get("torch") or {}
  out["peaks_tflops"] = {"datasheet": throughput.get("datasheet_peak_tflops"),
                         "measured_bf16_matmul": throughput.get("measured_matmul_tflops")}
  rows = []
  for name, entry in (throughput.get("workloads") or {}).items():
    eager, compiled = ((torch.get(key) or {}).get(name) or {} for key in ("workloads", "compiled"))
    rates = [r["target_tokens_per_s"] for r in (eager, compiled) if r.get("target_tokens_per_s")]
    torch_rate = max(rates) if rates else None  # the faster PyTorch
    paths = list(entry.get("train", {}).items()) + [("torch", eager), ("torch (compiled)", compiled)]
    for path, result in paths:
      if not result:
        continue
      row = {"workload": name, "path": path, "status": result.get("status")}
      for key in ("target_tokens_per_s", "model_tflops_per_s", "mfu_vs_datasheet", "mfu_vs_measured_matmul",
                  "peak_bytes_in_use"):
        row[key] = result.get(key)
      row["step_ms"] = result["step_time"]["median_s"] * 1e3 if "step_time" in result else None
      if not path.startswith("torch") and torch_rate and result.get("target_tokens_per_s"):
        row["ours_over_torch"] = result["target_tokens_per_s"] / torch_rate
      rows.append(row)
    decode = entry.get("decode") or {}
    if "target_tokens_per_s" in decode:
      rows.append({"workload": name, "path": "beam 4", "status": "ok",
                   "target_tokens_per_s": decode["target_tokens_per_s"], "sentences_per_s": decode["sentences_per_s"]})
  out["throughput"] = rows
  return out


def table(report: dict) -> str:
  s = report.get("summary") or summary(report)
  pct = lambda x: "-" if x is None else f"{x:.1%}"
  lines = ["part | status | seconds"]
  for part, result in report["parts"].items():
    lines.append(f"{part} | {result.get('status')} | {result.get('seconds', '-')}"
                 + (f" | {result.get('reason') or result.get('error')}"[:300] if result.get("status") != "ok" else ""))
  for name, v in (s.get("attention") or {}).items():
    errors = ("" if v.get("max_output_error") is None else
              f" | output {v['max_output_error']:.1e}, gradients {v['max_grad_error']:.1e} (<= {v['threshold']:.0e})")
    lines.append(f"attention {name} | {v['status']}{errors}")
  m = s.get("multi30k") or {}
  if m.get("status") == "ok":
    worst = m.get("max_relative_difference")
    lines.append(f"multi30k | passed {m['passed']} | resumed from step {m['resumed_from_step']} | loss curve "
                 f"{m['loss_curve']}" + ("" if worst is None else f" (max rel. difference {worst:.2%})")
                 + f" | dev BLEU {m['dev_bleu']}")
  peaks = s.get("peaks_tflops") or {}
  lines.append(f"peaks TFLOP/s | datasheet {peaks.get('datasheet')} | measured bf16 matmul "
               f"{'-' if peaks.get('measured_bf16_matmul') is None else format(peaks['measured_bf16_matmul'], '.1f')}")
  lines.append("workload | path | target tok/s | step ms | TFLOP/s | MFU datasheet | MFU measured | peak GiB | "
               "ours / torch")
  for row in s.get("throughput", []):
    if row.get("target_tokens_per_s") is None:
      lines.append(f"{row['workload']} | {row['path']} | {row.get('status')}")
      continue
    num = lambda key, spec, scale=1.0: "-" if row.get(key) is None else format(row[key] * scale, spec)
    lines.append(" | ".join((row["workload"], row["path"], num("target_tokens_per_s", ",.0f"), num("step_ms", ".1f"),
                             num("model_tflops_per_s", ".1f"), pct(row.get("mfu_vs_datasheet")),
                             pct(row.get("mfu_vs_measured_matmul")), num("peak_bytes_in_use", ".1f", 2.0 ** -30),
                             num("ours_over_torch", ".2f"))))
  return "\n".join(lines)


def run_check() -> dict:
  started = time.time()
  out_dir = FLAGS.output_dir or os.environ.get("OUT") or "device_check_out"
  os.makedirs(out_dir, exist_ok=True)
  work_dir = FLAGS.work_dir or tempfile.mkdtemp(prefix="device_check_")
  os.makedirs(work_dir, exist_ok=True)
  for name in PART_OUTPUT_FILES:  # a rerun into the same folder starts clean
    if os.path.exists(os.path.join(out_dir, name)):
      os.remove(os.path.join(out_dir, name))
  log = Log(os.path.join(out_dir, "device_check.log"))
  parts = [part for part in PARTS if part in FLAGS.parts]
  unknown = sorted(set(FLAGS.parts) - set(PARTS))
  if unknown:
    raise ValueError(f"--parts: unknown {unknown}; choose from {PARTS}")
  budget = FLAGS.time_budget_s
  report = {"check": "benchmarks.device_check", "argv": sys.argv,
            "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "host": {"python": platform.python_version(), "machine": platform.machine(), "node": platform.node()},
            "time_budget_s": budget, "part_shares_s": {p: PART_SHARES[p] for p in parts}, "tiny": FLAGS.tiny,
            "environment": None, "parts": {}}
  path = os.path.join(out_dir, "device_check.json")

  def save():
    report["summary"] = summary(report)
    report["elapsed_s"] = round(time.time() - started, 1)
    write_json(path, report)

  log(f"parts {parts}, {budget:.0f} s in all; writing {os.path.abspath(out_dir)}")
  for index, part in enumerate(parts):
    left = budget - (time.time() - started)
    shares = sum(PART_SHARES[p] for p in parts[index:])
    part_budget = left * PART_SHARES[part] / shares
    part_started = time.time()
    if part_budget < 5:
      report["parts"][part] = {"status": "skipped", "reason": "the check's time is spent", "budget_s": part_budget}
      save()
      continue
    log(f"part {part}: {part_budget:.0f} s")

    def progress(result, part=part, part_budget=part_budget):
      if result:
        report["parts"][part] = {"status": "running", "budget_s": round(part_budget, 1), **result}
        if report["environment"] is None and result.get("environment"):
          report["environment"] = result["environment"]
        save()

    try:
      if part == "multi30k":
        result = multi30k_check.check(FLAGS.multi30k_dir, work_dir, out_dir, time.time() + part_budget,
                                      multi30k_overrides(), FLAGS.multi30k_reference, log,
                                      value("multi30k_compare_after"))
      else:
        extra = []
        throughput = report["parts"].get("throughput") or {}
        for key in ("datasheet_peak_tflops", "measured_matmul_tflops"):
          if part == "torch" and throughput.get(key):
            extra.append(f"--{key}={throughput[key]}")
        result = run_child(part, part_budget, work_dir, log, progress, extra)
    except Exception as error:  # pylint: disable=broad-except
      log(f"part {part} failed: {type(error).__name__}: {error}")
      result = {"status": "error", "error": f"{type(error).__name__}: {str(error)[:2000]}",
                "traceback": traceback.format_exc()[-3000:]}
    result["budget_s"] = round(part_budget, 1)
    result["seconds"] = round(time.time() - part_started, 1)
    report["parts"][part] = result
    if report["environment"] is None and result.get("environment"):
      report["environment"] = result["environment"]
    save()
    log(f"part {part}: {result.get('status')} in {result['seconds']} s")
  report["total_s"] = round(time.time() - started, 1)
  save()
  log.line(table(report))
  log(f"done in {report['total_s']} s: {os.path.abspath(path)}")
  return report


def main(argv):
  del argv
  if FLAGS.child:
    child_main()
  elif FLAGS.write_multi30k_reference:
    work_dir = FLAGS.work_dir or tempfile.mkdtemp(prefix="device_check_reference_")
    multi30k_check.write_reference(FLAGS.multi30k_dir, work_dir, multi30k_overrides(), FLAGS.write_multi30k_reference)
  else:
    run_check()


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
