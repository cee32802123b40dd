"""The sweep runner end to end on a tiny 2-run sweep: tables and plots that agree with each run's own files, finished
runs skipped, an interrupted run resumed, the experiment log appended; plus the sweep-file helpers."""

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest
from absl import flags

import tiny_sweep
from helpers import ROOT, env
from transformer_jax import average_checkpoints, sweep, visualize


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
  return tiny_sweep.trained_sweep(tmp_path_factory)


def test_results_table_and_plots_agree_with_each_runs_files(swept):
  _, root = swept
  rows = {row["run"]: row for row in csv.DictReader(open(os.path.join(root, "results.csv")))}
  assert sorted(rows) == sorted(tiny_sweep.RUN_NAMES)
  for name, row in rows.items():
    results = json.load(open(os.path.join(root, name, "results.json")))
    dev = [json.loads(line) for line in open(os.path.join(root, name, "dev_curve.jsonl"))]
    train = [json.loads(line) for line in open(os.path.join(root, name, "train_log.jsonl"))]
    assert row["status"] == "finished" and int(row["step"]) == results["step"] == tiny_sweep.STEPS
    assert float(row["test/bleu"]) == pytest.approx(results["test_sacrebleu"])
    assert float(row["dev/bleu_best"]) == pytest.approx(max(d["dev_bleu"] for d in dev))
    assert float(row["dev/perplexity"]) == pytest.approx(dev[-1]["dev_perplexity"])
    assert float(row["train/loss"]) == pytest.approx(train[-1]["train/loss"])
    assert row["num_heads"] == name.split("=")[1]
    assert int(row["parameters"]) > 0
  markdown = open(os.path.join(root, "results.md")).read()
  assert all(name in markdown for name in tiny_sweep.RUN_NAMES)
  for plot in ("learning_curves.png", "dev_bleu_best_vs_num_heads.png"):
    assert f"(plots/{plot})" in markdown
    with open(os.path.join(root, "plots", plot), "rb") as f:
      assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_each_run_logs_its_command_and_environment(swept):
  _, root = swept
  entries = json.load(open(os.path.join(root, tiny_sweep.RUN_NAMES[0], "run_info.json")))
  assert len(entries) == 1
  entry = entries[0]
  assert "--config.num_heads=1" in entry["command_line"]
  assert entry["devices"] == {"platform": "cpu", "kind": "cpu", "count": 2, "process_count": 1}
  assert entry["versions"]["jax"] and entry["versions"]["flax"] and entry["python"] and entry["start_time"]
  git = lambda *args: subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
  if git("rev-parse", "HEAD").returncode == 0:  # a checkout: the recorded commit is HEAD or (after a commit
    # made while the tests ran) one of its ancestors
    assert git("merge-base", "--is-ancestor", entry["git"]["commit"], "HEAD").returncode == 0, entry["git"]
    assert isinstance(entry["git"]["dirty"], bool)


def test_sample_dev_translations_reach_tensorboard(swept):
  _, root = swept
  workdir = os.path.join(root, tiny_sweep.RUN_NAMES[0])
  events = [name for name in os.listdir(workdir) if name.startswith("events.out.tfevents")]
  assert any(b"dev/translations" in open(os.path.join(workdir, name), "rb").read() for name in events)


def test_rerun_skips_finished_runs_and_resumes_an_interrupted_one(swept, tmp_path, capsys):
  path, shared_root = swept
  root = str(tmp_path / "root")  # a copy: other test files read the shared runs
  shutil.copytree(shared_root, root)
  logs = {name: open(os.path.join(root, name, "log.txt")).read() for name in tiny_sweep.RUN_NAMES}
  assert sweep.run_sweep(path, root, env=tiny_sweep.ENV) == 0
  assert capsys.readouterr().out.count("skip    ") == 2
  assert {name: open(os.path.join(root, name, "log.txt")).read() for name in tiny_sweep.RUN_NAMES} == logs

  # As if killed after its last checkpoint: no results.json. Rerunning resumes it (and only it).
  interrupted = os.path.join(root, tiny_sweep.RUN_NAMES[1])
  os.remove(os.path.join(interrupted, "results.json"))
  assert sweep.run_sweep(path, root, parallel=2, env=tiny_sweep.ENV) == 0
  out = capsys.readouterr().out
  assert f"skip    {tiny_sweep.RUN_NAMES[0]}" in out and f"resume  {tiny_sweep.RUN_NAMES[1]}" in out
  log = open(os.path.join(interrupted, "log.txt")).read()
  assert log.startswith(logs[tiny_sweep.RUN_NAMES[1]])  # the first attempt's output is kept
  assert log.count("==== ") == 2 and f"Resumed from the checkpoint at step {tiny_sweep.STEPS}." in log
  assert json.load(open(os.path.join(interrupted, "results.json")))["step"] == tiny_sweep.STEPS
  assert len(json.load(open(os.path.join(interrupted, "run_info.json")))) == 2  # appended, not overwritten


def test_submitit_jobs_skip_finished_runs_and_resume_an_interrupted_one(swept, tmp_path, capsys, monkeypatch):
  """The same sweep through submitit's local executor (the SLURM launcher's code path, on this machine)."""
  path, root = swept
  jobs_root = str(tmp_path / "jobs_root")
  shutil.copytree(root, jobs_root)
  interrupted = os.path.join(jobs_root, tiny_sweep.RUN_NAMES[1])
  os.remove(os.path.join(interrupted, "results.json"))  # as if the job was killed after its last checkpoint
  attempts = open(os.path.join(interrupted, "log.txt")).read().count("==== ")
  monkeypatch.setenv("PYTHONPATH", ROOT)  # the job process unpickles transformer_jax.sweep.RunJob
  assert sweep.run_sweep(path, jobs_root, env=tiny_sweep.ENV, launcher="submitit_local") == 0
  out = capsys.readouterr().out
  assert f"skip    {tiny_sweep.RUN_NAMES[0]}" in out and f"resume  {tiny_sweep.RUN_NAMES[1]}  (job " in out
  assert f"done    {tiny_sweep.RUN_NAMES[1]}" in out
  log = open(os.path.join(interrupted, "log.txt")).read()
  assert log.count("==== ") == attempts + 1 and f"Resumed from the checkpoint at step {tiny_sweep.STEPS}." in log
  assert json.load(open(os.path.join(interrupted, "results.json")))["step"] == tiny_sweep.STEPS
  assert os.listdir(os.path.join(jobs_root, "submitit"))  # submitit's own job folder (pickles, job logs)
  assert os.path.exists(os.path.join(jobs_root, "results.md"))


def test_unknown_launcher_is_refused(tmp_path):
  path = tiny_sweep.write_sweep_file(str(tmp_path))
  with pytest.raises(ValueError, match="launcher 'pbs': must be one of"):
    sweep.run_sweep(path, str(tmp_path / "R"), launcher="pbs")


def test_print_commands_group_and_set(tmp_path, capsys):
  path = tiny_sweep.write_sweep_file(str(tmp_path))
  assert sweep.run_sweep(path, "R", print_commands=True, group="heads", sets=["num_train_steps=3"]) == 0
  lines = capsys.readouterr().out.splitlines()
  assert len(lines) == 2 and not os.path.exists("R")
  for line, heads in zip(lines, (1, 2)):
    assert "-m transformer_jax.main --config=configs/default.py" in line
    assert f"--config.num_heads={heads}" in line and "--config.num_train_steps=3 " in line
    assert line.count("--config.num_train_steps=") == 1  # --set replaces the sweep's value
    workdir = f"R/heads-num_heads={heads}"
    assert line.startswith(f"mkdir -p {workdir} && ")
    assert line.endswith(f"--workdir={workdir} >> {workdir}/log.txt 2>&1")
  with pytest.raises(ValueError, match="groups"):
    sweep.run_sweep(path, "R", print_commands=True, group="nope")


def test_grid_and_random_search():
  runs = sweep.grid(num_heads=[2, 8], num_layers=[1, 3])
  assert [r.overrides for r in runs] == [{"num_heads": 2, "num_layers": 1}, {"num_heads": 2, "num_layers": 3},
                                         {"num_heads": 8, "num_layers": 1}, {"num_heads": 8, "num_layers": 3}]
  space = dict(dropout_rate=sweep.uniform(0.0, 0.3), learning_rate_scale=sweep.log_uniform(0.25, 4.0),
               num_heads=[2, 4, 8])
  first, again = sweep.random_search(20, seed=1, **space), sweep.random_search(20, seed=1, **space)
  assert first == again and first != sweep.random_search(20, seed=2, **space)
  for run in first:
    assert 0.0 <= run.overrides["dropout_rate"] <= 0.3 and 0.25 <= run.overrides["learning_rate_scale"] <= 4.0
    assert run.overrides["num_heads"] in (2, 4, 8)
  resolved = sweep.resolve(sweep.Sweep(config="configs/default.py", groups={"r": first[:3]}))
  assert len({r.name for r in resolved}) == 3 and all(r.name.startswith("r-dropout_rate=") for r in resolved)


def test_help_of_the_new_commands():
  result = subprocess.run([sys.executable, "-m", "transformer_jax.sweep", "--helpshort"], cwd=ROOT,
                          env=env(devices=None), capture_output=True, text=True,
                          timeout=120)
  assert "python -m transformer_jax.sweep" in result.stdout
  for flag in ["--root", "--parallel", "--group", "--set", "--print_commands", "--aggregate_only", "--metric"]:
    assert flag in result.stdout, flag
  # The other two commands import JAX (seconds per process): their usage and flags are checked in this process.
  for module, names in [(average_checkpoints, ["workdir", "last", "output_workdir", "output_step", "overwrite"]),
                        (visualize, ["workdir", "sentence", "output_dir", "step", "beam_size", "positions"])]:
    assert module.__doc__.count(f"python -m {module.__name__} --workdir=") >= 1
    flag_values = module._define_flags(flags.FlagValues())  # pylint: disable=protected-access
    for name in names:
      assert len(flag_values[name].help) > 20, (module.__name__, name)
