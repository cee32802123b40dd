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


def _shared_directory(tmp_path_factory):
  """A directory of this test run that every xdist worker sees (the parent of the workers' own base temps)."""
  base = tmp_path_factory.getbasetemp()
  return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def trained_sweep(tmp_path_factory) -> tuple[str, str]:
  """(sweep file, root) of the finished tiny sweep. The first worker to ask trains it, both runs at once; the
  others wait for it and read the same runs (tests copy a run before changing it)."""
  if not _trained:
    import filelock  # pylint: disable=g-import-not-at-top
    from transformer_jax import sweep  # pylint: disable=g-import-not-at-top
    shared = _shared_directory(tmp_path_factory)
    directory = os.path.join(shared, "tiny_sweep")
    path, root = os.path.join(directory, "tiny_sweep.py"), os.path.join(directory, "root")
    with filelock.FileLock(os.path.join(shared, "tiny_sweep.lock")):
      if not os.path.exists(os.path.join(directory, "trained")):
        os.makedirs(directory, exist_ok=True)
        write_sweep_file(directory)
        status = sweep.run_sweep(path, root, parallel=2, env=ENV)
        if status != 0:
          logs = [open(os.path.join(root, name, "log.txt")).read()[-3000:] for name in RUN_NAMES]
          raise AssertionError("tiny sweep failed:\n" + "\n".join(logs))
        open(os.path.join(directory, "trained"), "w").close()
    _trained.update(path=path, root=root)
  return _trained["path"], _trained["root"]
