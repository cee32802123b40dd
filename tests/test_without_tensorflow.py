"""Training on files runs where JAX is installed and TensorFlow is not (GPU machines, JAX containers): the real
training command, in a subprocess whose imports cannot find tensorflow or tensorflow_datasets, trains on a local
corpus, is stopped by SIGTERM, resumes, evaluates and decodes the test set, and writes its log, train_log.jsonl,
dev_curve.jsonl and TensorBoard events (through tensorboard's own writer); without tensorboard either, the log says
what to install. The tfds sources, which need TensorFlow, are tested where it is installed (test_sources.py,
test_data_pipeline.py, test_synthetic_ende.py, test_wmt_pipeline.py)."""

import glob
import io
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT, config_flags, env
from transformer_jax import metric_writers
from transformer_jax.data import embedded

# Installed as sitecustomize.py ahead of everything on PYTHONPATH: every import finder of the process answers "no
# such module" for these names, as on a machine without them (importlib.util.find_spec gives None; import raises
# ModuleNotFoundError), while their files stay where they are for the other tests.
HIDE_MODULES = '''
import sys

HIDDEN = {hidden!r}


class _Hiding:
  def __init__(self, finder):
    self.finder = finder

  def find_spec(self, name, path=None, target=None):
    if name.partition(".")[0] in HIDDEN:
      return None
    find_spec = getattr(self.finder, "find_spec", None)
    return find_spec(name, path, target) if find_spec else None

  def __getattr__(self, attribute):
    return getattr(self.finder, attribute)


sys.meta_path[:] = [_Hiding(finder) for finder in sys.meta_path]
'''

# A tiny model on a local corpus: the two layouts (TSV, {lang} pattern files) as test_data_pipeline writes them.
SETTINGS = dict(dataset="local", vocab_size=300, tokenizer_train_sentences=1000, num_layers=1, d_model=32, d_ff=64,
                num_heads=2, tokens_per_batch=512, bucket_lengths=(16, 32, 48, 64), max_source_length=64,
                max_target_length=64, pack_training_rows=False, log_every_steps=1, checkpoint_every_steps=100_000,
                eval_every_steps=100_000, num_dev_bleu_sentences=2, max_decode_length=16, decode_extra_length=4,
                num_test_sentences=2, max_train_seconds=0)


def hiding_env(tmp_path, *hidden: str) -> dict:
  """The tests' environment for a subprocess in which `hidden` top-level modules cannot be imported."""
  directory = tmp_path / "hide_modules"
  directory.mkdir(exist_ok=True)
  (directory / "sitecustomize.py").write_text(HIDE_MODULES.format(hidden=set(hidden)))
  return env(devices=2, PYTHONPATH=os.pathsep.join([str(directory), ROOT]))


def local_corpus(directory) -> list[str]:
  splits = embedded.make_splits(seed=3, num_train=1500, num_validation=20, num_test=20)
  for lang, column in (("en", 0), ("de", 1)):
    (directory / f"train.{lang}").write_text("".join(pair[column] + "\n" for pair in splits["train"]))
  for split in ("validation", "test"):
    (directory / f"{split}.tsv").write_text("".join(f"{en}\t{de}\n" for en, de in splits[split]))
  return config_flags(dict(local_train=str(directory / "train.{lang}"),
                           local_validation=str(directory / "validation.tsv"),
                           local_test=str(directory / "test.tsv")))


def read_events(workdir: str) -> dict:
  """{(tag, step): (plugin name, array)} of every summary in the workdir's event files."""
  from tensorboard.backend.event_processing import event_file_loader  # pylint: disable=g-import-not-at-top
  from tensorboard.util import tensor_util  # pylint: disable=g-import-not-at-top
  values = {}
  for path in glob.glob(os.path.join(workdir, "events.out.tfevents.*")):
    for event in event_file_loader.EventFileLoader(path).Load():
      for value in event.summary.value:
        values[(value.tag, event.step)] = (value.metadata.plugin_data.plugin_name,
                                           tensor_util.make_ndarray(value.tensor))
  return values


def test_the_hidden_modules_cannot_be_imported_or_found(tmp_path):
  code = ("import importlib.util, sys\n"
          "for name in ('tensorflow', 'tensorflow_datasets'):\n"
          "  assert importlib.util.find_spec(name) is None, name\n"
          "  try:\n"
          "    __import__(name)\n"
          "  except ModuleNotFoundError:\n"
          "    pass\n"
          "  else:\n"
          "    raise AssertionError(name)\n"
          "import numpy, absl, tensorboard\n"
          "print('hidden')")
  result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=hiding_env(tmp_path, "tensorflow",
                          "tensorflow_datasets"), capture_output=True, text=True, timeout=120)
  assert result.returncode == 0 and result.stdout.strip() == "hidden", result.stderr[-3000:]


def test_the_training_module_imports_neither_tensorflow_nor_tfds(tmp_path):
  """Where both are installed, importing the training code leaves them out: the writer (TensorFlow) and the tfds
  sources import them when they are used."""
  code = ("import sys, transformer_jax.train, transformer_jax.data.input_pipeline, transformer_jax.data.prepare; "
          "print([m for m in ('tensorflow', 'tensorflow_datasets') if m in sys.modules])")
  result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env(devices=2), capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip().splitlines()[-1] == "[]"


def test_training_on_local_files_stops_resumes_and_decodes_without_tensorflow(tmp_path):
  environment = hiding_env(tmp_path, "tensorflow", "tensorflow_datasets")
  workdir = tmp_path / "workdir"
  command = [sys.executable, "-m", "transformer_jax.main", "--config=configs/default.py", f"--workdir={workdir}",
             *local_corpus(tmp_path), *config_flags(SETTINGS)]
  # First invocation: trains until SIGTERM, which saves a checkpoint at the current step and exits cleanly.
  process = subprocess.Popen([*command, "--config.num_train_steps=100000"], cwd=ROOT, env=environment,
                             stderr=subprocess.PIPE, text=True)
  log = []
  try:
    for line in process.stderr:
      log.append(line)
      if "step 2/100000" in line:
        process.send_signal(signal.SIGTERM)
        break
    log += process.stderr.readlines()
    assert process.wait(timeout=300) == 0, "".join(log)[-3000:]
  finally:
    if process.poll() is None:
      process.kill()
      process.wait()
  log = "".join(log)
  assert "TensorBoard events through tensorboard's own event writer" in log, log[-3000:]
  stopped = [line for line in log.splitlines() if "Stopped by SIGTERM after step" in line]
  assert stopped, log[-3000:]
  stopped_at = int(stopped[0].split("after step ")[1].split(";")[0])
  assert str(stopped_at) in os.listdir(workdir / "checkpoints")
  assert not (workdir / "results.json").exists()

  # Second invocation, two steps more: resumes from that checkpoint, evaluates on dev, decodes the test sentences.
  final_step = stopped_at + 2
  result = subprocess.run([*command, f"--config.num_train_steps={final_step}"], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert f"Resumed from the checkpoint at step {stopped_at}." in result.stderr, result.stderr[-3000:]
  assert f"step {final_step}/{final_step} | loss" in result.stderr
  assert "Test (2 sentences, parameters of steps" in result.stderr
  results = json.load(open(workdir / "results.json"))
  assert results["step"] == final_step and 0.0 <= results["test_sacrebleu"] <= 100.0
  train_log = [json.loads(line) for line in open(workdir / "train_log.jsonl")]
  assert [row["step"] for row in train_log] == list(range(1, final_step + 1))
  assert all(np.isfinite(row["train/loss"]) for row in train_log)
  dev_curve = [json.loads(line) for line in open(workdir / "dev_curve.jsonl")]
  assert [row["step"] for row in dev_curve] == [final_step] and "dev_bleu" in dev_curve[0]

  # TensorBoard events of both invocations, without TensorFlow: as tf.summary writes them.
  events = read_events(str(workdir))
  assert len(glob.glob(str(workdir / "events.out.tfevents.*"))) == 2
  for step in range(1, final_step + 1):
    plugin, loss = events[("train/loss", step)]
    assert plugin == "scalars" and loss.dtype == np.float32
    assert loss == pytest.approx(train_log[step - 1]["train/loss"], rel=1e-6)
  assert events[("dev/bleu", final_step)][1] == pytest.approx(dev_curve[0]["dev_bleu"], rel=1e-6)
  plugin, table = events[("dev/translations", final_step)]
  assert plugin == "text" and table.item().startswith(b"| source | hypothesis | reference |")
  assert events[("_hparams_/session_start_info", 0)][0] == "hparams"
  from PIL import Image  # pylint: disable=g-import-not-at-top
  images = {tag: value for (tag, step), value in events.items() if tag.startswith("dev_attention/")}
  assert images and all(plugin == "images" for plugin, _ in images.values())
  for tag, (_, tensor) in images.items():
    width, height = int(tensor[0]), int(tensor[1])
    picture = np.asarray(Image.open(io.BytesIO(tensor[2])))
    assert picture.shape == (height, width, 3) and height > 100 and width > 100, tag


def test_without_tensorboard_either_the_log_says_what_to_install(tmp_path):
  code = ("import numpy as np\n"
          "from absl import logging\n"
          "from transformer_jax import metric_writers\n"
          "logging.set_verbosity(logging.INFO)\n"
          "writer = metric_writers.create_default_writer(%r)\n"
          "writer.write_hparams({'d_model': 32})\n"
          "writer.write_scalars(1, {'train/loss': 2.5})\n"
          "writer.write_texts(1, {'dev/translations': 'a | b'})\n"
          "writer.write_images(1, {'image': np.zeros((4, 5, 3), np.uint8)})\n"
          "print(metric_writers.attention_images_possible())\n"
          "writer.close()\n") % str(tmp_path / "logdir")
  result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=hiding_env(tmp_path, "tensorflow", "tensorflow_datasets", "tensorboard"))
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip() == "False"
  assert result.stderr.count(metric_writers.NO_EVENTS_MESSAGE) == 1, result.stderr[-3000:]
  assert "Attention images are not drawn for TensorBoard: neither TensorFlow nor tensorboard" in result.stderr
  assert "[1] train/loss=2.5" in result.stderr  # the log line, as clu's LoggingWriter writes it
  assert not glob.glob(str(tmp_path / "logdir" / "events.out.tfevents.*"))


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_png_encoding_reads_back_exactly(channels):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  image = np.random.default_rng(channels).integers(0, 256, (7, 11, channels), dtype=np.uint8)
  decoded = np.asarray(Image.open(io.BytesIO(metric_writers.png(image))))
  np.testing.assert_array_equal(decoded.reshape(image.shape), image)
