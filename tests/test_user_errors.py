"""A user's mistake ends every command with its message and a non-zero exit status, without a traceback; an
unexpected error keeps its traceback. No accelerator-probe chatter on a CPU machine."""

import os
import subprocess
import sys
import textwrap

import pytest

from helpers import ROOT, env, run

MAIN = ["transformer_jax.main", "--config=configs/default.py"]


def assert_user_error(result, *fragments):
  assert result.returncode != 0, result.stderr[-2000:]
  assert "Traceback" not in result.stderr, result.stderr[-3000:]
  for fragment in fragments:
    assert fragment in result.stderr, (fragment, result.stderr[-2000:])


def test_unknown_config_key(tmp_path):
  result = run([*MAIN, f"--workdir={tmp_path}", "--config.d_modle=64"])
  assert_user_error(result, "d_modle", 'Did you mean "d_model"')
  assert not os.path.exists(tmp_path / "checkpoints")  # refused before training


def test_config_value_of_the_wrong_type(tmp_path):
  result = run([*MAIN, f"--workdir={tmp_path}", "--config.d_model=wide"])
  assert_user_error(result, "d_model", "wide")
  for flag, fragment in [("--config.num_layers=four", "--config.num_layers=four"), ("--bogus_flag=1", "bogus_flag")]:
    result = run([*MAIN, f"--workdir={tmp_path}", flag])
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and fragment in errors[0] and "FATAL" not in result.stderr, result.stderr[-2000:]


def test_impossible_config_value_and_no_backend_probe_noise(tmp_path):
  # Without JAX_PLATFORMS (which the suite sets), JAX probes for TPU and CUDA backends as it would for a user.
  result = run([*MAIN, f"--workdir={tmp_path}", "--config.dropout_rate=2.0"], env(JAX_PLATFORMS=None))
  assert_user_error(result, "Invalid config:", "dropout_rate=2.0: must be in [0, 1)")
  assert "Unable to initialize backend" not in result.stderr, result.stderr[-2000:]


def test_workdir_that_cannot_be_written(tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("not a directory")
  result = run([*MAIN, f"--workdir={blocker / 'run'}"])
  assert_user_error(result, "cannot be written", "Choose another --workdir")


def test_data_files_of_different_lengths(tmp_path):
  (tmp_path / "train.en").write_text("one\ntwo\nthree\n")
  (tmp_path / "train.de").write_text("eins\nzwei\n")
  result = run([*MAIN, f"--workdir={tmp_path / 'run'}", "--config.dataset=local",
                f"--config.local_train={tmp_path}/train.{{lang}}",
                f"--config.local_validation={tmp_path}/train.{{lang}}",
                "--config.local_test="])
  assert_user_error(result, "train.de", "has 2 lines")


def test_translate_without_a_trained_run(tmp_path):
  result = run(["transformer_jax.translate", f"--workdir={tmp_path}"], input="The dog sees the cat.\n")
  assert_user_error(result, "config.json not found: --workdir must be the workdir of a training run")


def test_average_without_a_trained_run(tmp_path):
  result = run(["transformer_jax.average_checkpoints", f"--workdir={tmp_path}"])
  assert_user_error(result, "config.json not found")


def test_sweep_file_that_does_not_exist(tmp_path):
  result = run(["transformer_jax.sweep", str(tmp_path / "nowhere.py"), f"--root={tmp_path}"])
  assert_user_error(result, "nowhere.py", "not found")


@pytest.mark.parametrize("raised, traceback_expected", [("RuntimeError('a bug')", True),
                                                        ("errors.ConfigError('fix the key')", False)])
def test_only_user_errors_lose_their_traceback(tmp_path, raised, traceback_expected):
  script = tmp_path / "command.py"
  script.write_text(textwrap.dedent(f"""\
      from transformer_jax import cli, errors

      def main(argv):
        raise {raised}

      cli.run(main)
      """))
  result = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env(), capture_output=True, text=True,
                          timeout=120)
  assert result.returncode != 0
  assert ("Traceback" in result.stderr) == traceback_expected, result.stderr[-2000:]
  if not traceback_expected:
    assert result.stderr.strip().endswith("Error: fix the key")
