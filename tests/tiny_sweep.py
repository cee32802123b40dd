"""A 2-run sweep of a tiny model, trained once per test run and shared by the sweep, averaging and visualize
tests (training dominates their cost). Not a test module: imported by them."""

import os
import textwrap

from helpers import env

ENV = env()
RUN_NAMES = ("heads-num_heads=1", "heads-num_heads=2")
STEPS = 8  # checkpoints at 4 and 8

_trained = {}


def write_sweep_file(directory) -> str:
  path = os.path.join(directory, "tiny_sweep.py")
  with open(path, "w") as f:
    f.write(textwrap.dedent(f"""\
        import os
        from transformer_jax.sweep import Sweep, grid

        def get_sweep():
          return Sweep(config="configs/default.py", groups={{"heads": grid(num_heads=[1, 2])}}, overrides=dict(
              # a data dir per run, so the runs can generate their data at the same time
              tfds_data_dir=lambda name: os.path.join({os.path.join(directory, "tfds")!r}, name),
              embedded_num_train=2000, vocab_size=400,
              num_layers=1, d_model=32, d_ff=64, num_train_steps={STEPS}, log_every_steps=4, eval_every_steps={STEPS},
              num_dev_bleu_sentences=8, checkpoint_every_steps=4, max_decode_length=24, decode_extra_length=4,
              num_test_sentences=16, max_train_seconds=0.0,
              bucket_lengths=(96,)))  # one length: one dev-loss compile
        """))
  return path


def trained_sweep(tmp_path_factory) -> tuple[str, str]:
  """(sweep file, root) of the finished tiny sweep; trains it on first use, both runs at once."""
  if not _trained:
    from transformer_jax import sweep  # pylint: disable=g-import-not-at-top
    directory = str(tmp_path_factory.mktemp("tiny_sweep"))
    path, root = write_sweep_file(directory), os.path.join(directory, "root")
    status = sweep.run_sweep(path, root, parallel=2, env=ENV)
    if status != 0:
      logs = [open(os.path.join(root, name, "log.txt")).read()[-3000:] for name in RUN_NAMES]
      raise AssertionError("tiny sweep failed:\n" + "\n".join(logs))
    _trained.update(path=path, root=root)
  return _trained["path"], _trained["root"]
