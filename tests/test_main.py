"""End to end, as a user types it: train with `main` on tiny settings, then `translate` a file with the workdir."""

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from helpers import ROOT, TINY, env, run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("e2e")
  workdir = str(tmp / "workdir")
  result = run(["transformer_jax.main", "--config=configs/default.py", f"--workdir={workdir}",
                f"--config.tfds_data_dir={tmp / 'tfds'}", *TINY, "--config.test_average_last=2"])
  assert result.returncode == 0, result.stderr[-3000:]
  return workdir, result.stderr


def test_main_trains_evaluates_and_reports_bleu(trained):
  workdir, log = trained
  assert "step 12/12" in log and "steps/s" in log and "ETA" in log
  assert "Test (16 sentences, parameters of steps [6, 12]): sacreBLEU" in log and "tokenized BLEU" in log
  results = json.load(open(os.path.join(workdir, "results.json")))
  assert results["step"] == 12 and 0.0 <= results["test_sacrebleu"] <= 100.0
  for name in ("config.json", "sentencepiece.model", "checkpoints"):
    assert os.path.exists(os.path.join(workdir, name))
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["12", "6"]


def test_the_test_score_decodes_the_mean_of_the_last_checkpoints(trained, tmp_path):
  """test_average_last=2 scores the mean of checkpoints 6 and 12; the average_checkpoints command (checked against
  Orbax elementwise in test_average_checkpoints) builds the same mean, and decoding it gives the same score."""
  from transformer_jax import average_checkpoints, evaluation, inference, sharding, workdir as workdir_lib
  from transformer_jax.data import input_pipeline
  workdir, _ = trained
  results = json.load(open(os.path.join(workdir, "results.json")))
  assert results["test_averaged_steps"] == [6, 12]
  assert set(results["test_final_step"]) == {"sacrebleu", "sacrebleu_lowercase", "tokenized_bleu"}
  averaged_dir = str(tmp_path / "averaged")
  average_checkpoints.average_last(workdir, 2, output_workdir=averaged_dir)
  run_ = workdir_lib.load(averaged_dir)
  mesh = sharding.make_mesh()
  test = evaluation.bleu_set(input_pipeline.load_text_split(run_.config, "test"), run_.tokenizer, limit=16)
  report = evaluation.bleu_of(run_.model, inference.replicate(run_.params, mesh), run_.tokenizer, test, run_.config,
                              mesh)
  assert report["sacrebleu"] == pytest.approx(results["test_sacrebleu"], abs=1e-9)
  assert report["tokenized_bleu"] == pytest.approx(results["test_tokenized_bleu"], abs=1e-9)


def test_rerunning_resumes_from_the_latest_checkpoint(trained, tmp_path):
  workdir, _ = trained
  resumed = str(tmp_path / "resumed")
  shutil.copytree(workdir, resumed)
  tfds_dir = os.path.join(os.path.dirname(workdir), "tfds")
  overrides = [o for o in TINY if not o.startswith("--config.num_train_steps")] + ["--config.num_train_steps=16"]
  # A smaller batch is allowed on resume, with a warning: the batches no longer match the uninterrupted run's.
  result = run(["transformer_jax.main", "--config=configs/default.py", f"--workdir={resumed}",
                f"--config.tfds_data_dir={tfds_dir}", *overrides, "--config.tokens_per_batch=1024"])
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Resumed from the checkpoint at step 12." in result.stderr
  assert ("Resuming with different batch settings (tokens_per_batch: 2048 -> 1024): from step 12 on"
          in result.stderr)
  assert "Token ids of" in result.stderr and "read from the cache" in result.stderr
  assert "step 16/16" in result.stderr and "step 4/16" not in result.stderr
  assert json.load(open(os.path.join(resumed, "results.json")))["step"] == 16


def test_translate_writes_one_line_per_input_line(trained, tmp_path):
  workdir, _ = trained
  source = tmp_path / "in.txt"
  source.write_text("The dog sees the cat.\nToday the man has seen twenty-one houses.\nA woman laughs.\n")
  output = tmp_path / "out.txt"
  result = run(["transformer_jax.translate", f"--workdir={workdir}", f"--input={source}", f"--output={output}",
                "--beam_size=2", "--alpha=0.6", "--batch_size=4"])
  assert result.returncode == 0, result.stderr[-3000:]
  assert len(output.read_text().split("\n")) == 3 + 1  # three lines, each newline-terminated

  result = run(["transformer_jax.translate", f"--workdir={workdir}", f"--input={source}", f"--output={output}",
                "--beam_size=2", "--n_best=2", "--batch_size=4"])
  assert result.returncode == 0, result.stderr[-3000:]
  lines = output.read_text().splitlines()
  assert len(lines) == 3
  for line in lines:
    scores = [float(field.rsplit(" ||| ", 1)[1]) for field in line.split("\t")]
    assert 1 <= len(scores) <= 2 and scores == sorted(scores, reverse=True)


def test_help_describes_every_flag():
  for module, flags in [("transformer_jax.main", ["--workdir", "--config", "--coordinator_address"]),
                        ("transformer_jax.reproduce", ["--config", "--workdir", "--average_last", "--num_processes"]),
                        ("transformer_jax.translate", ["--workdir", "--input", "--output", "--beam_size",
                                                       "--alpha"])]:
    result = run([module, "--helpshort"])  # absl exits with status 1 after printing help
    assert "Usage" in result.stdout or "python -m" in result.stdout
    for flag in flags:
      assert flag in result.stdout, (module, flag)


def test_diverging_run_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
  overrides = [o for o in TINY if not o.startswith(("--config.num_train_steps", "--config.checkpoint_every"))]
  result = run(["transformer_jax.main", "--config=configs/default.py", f"--workdir={tmp_path / 'wd'}",
                f"--config.tfds_data_dir={tmp_path / 'tfds'}", *overrides, "--config.num_train_steps=6",
                "--config.checkpoint_every_steps=1", "--config.learning_rate_scale=1e30", "--config.warmup_steps=1"])
  assert result.returncode != 0
  assert "Non-finite loss or gradient norm at step" in result.stderr, result.stderr[-2000:]
  bad_step = int(result.stderr.split("Non-finite loss or gradient norm at step ")[1].split(":")[0])
  saved = sorted(int(name) for name in os.listdir(tmp_path / "wd" / "checkpoints") if name.isdigit())
  assert saved and max(saved) == bad_step - 1


def test_sigterm_saves_at_the_current_step_exits_cleanly_and_resumes(tmp_path):
  workdir = tmp_path / "wd"
  overrides = [o for o in TINY if not o.startswith(("--config.num_train_steps", "--config.log_every"))]
  command = [sys.executable, "-m", "transformer_jax.main", "--config=configs/default.py", f"--workdir={workdir}",
             f"--config.tfds_data_dir={tmp_path / 'tfds'}", *overrides, "--config.num_train_steps=100000",
             "--config.log_every_steps=1"]
  process = subprocess.Popen(command, cwd=ROOT, env=env(), stderr=subprocess.PIPE, text=True)
  log = []
  for line in process.stderr:  # wait until training is under way
    log.append(line)
    if "step 3/100000" in line:
      process.send_signal(signal.SIGTERM)
      break
  log += process.stderr.readlines()
  assert process.wait(timeout=300) == 0, "".join(log)[-3000:]
  message = [line for line in log if "Stopped by SIGTERM after step" in line]
  assert message, "".join(log)[-3000:]
  stopped_at = int(message[0].split("after step ")[1].split(";")[0])
  assert stopped_at >= 3
  assert str(stopped_at) in os.listdir(workdir / "checkpoints")
  assert not (workdir / "results.json").exists()  # stopped runs do not pretend to have finished

  result = run(["transformer_jax.main", "--config=configs/default.py", f"--workdir={workdir}",
                f"--config.tfds_data_dir={tmp_path / 'tfds'}", *overrides,
                f"--config.num_train_steps={stopped_at + 2}", "--config.log_every_steps=1"])
  assert result.returncode == 0, result.stderr[-3000:]
  assert f"Resumed from the checkpoint at step {stopped_at}." in result.stderr
  assert json.load(open(workdir / "results.json"))["step"] == stopped_at + 2


def test_translate_awkward_lines_one_output_line_each(trained, tmp_path):
  workdir, _ = trained
  source = tmp_path / "awkward.txt"
  long_line = " ".join(["the big dog sees the small cat"] * 40)  # far beyond the model's maximum length
  source.write_bytes(b"The dog sees the cat.\n\n   \t \nbad \xff\xfe bytes here.\n" + long_line.encode() +
                     b"\nA woman laughs.")  # no newline at the end
  output = tmp_path / "out.txt"
  result = run(["transformer_jax.translate", f"--workdir={workdir}", f"--input={source}", f"--output={output}",
                "--beam_size=2", "--batch_size=4"])
  assert result.returncode == 0, result.stderr[-3000:]
  lines = output.read_text(encoding="utf-8").split("\n")
  assert len(lines) == 6 + 1 and lines[-1] == ""  # six inputs, six newline-terminated outputs
  assert lines[1] == "" and lines[2] == ""  # blank in, blank out
  assert "not valid UTF-8" in result.stderr and "1 input line(s) had invalid UTF-8" in result.stderr
  assert "1 sentence(s) longer than" in result.stderr


def test_translate_refuses_a_workdir_without_a_run(tmp_path):
  result = run(["transformer_jax.translate", f"--workdir={tmp_path}"], input="The dog sees the cat.\n")
  assert result.returncode != 0
  assert "config.json not found: --workdir must be the workdir of a training run" in result.stderr


def test_translate_refuses_a_workdir_without_checkpoints(trained, tmp_path):
  workdir, _ = trained
  for name in ("config.json", "sentencepiece.model"):
    shutil.copy(os.path.join(workdir, name), tmp_path / name)
  result = run(["transformer_jax.translate", f"--workdir={tmp_path}"], input="The dog sees the cat.\n")
  assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
  assert f"no checkpoint in {tmp_path}/checkpoints: train first, or check --workdir" in result.stderr
