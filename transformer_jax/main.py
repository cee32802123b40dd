"""Train and evaluate a Transformer.

  python -m transformer_jax.main --config=configs/default.py --workdir=runs/demo [--config.KEY=VALUE ...]

--config names a file in configs/ (each one's docstring has its command); any key of it can be overridden on the
command line, e.g. --config.num_train_steps=1000 --config.d_model=256. Unknown keys and wrong types are refused.
Rerunning the same command with the same --workdir resumes from the latest checkpoint there.
The full list of keys, with their meaning, is in transformer_jax/config_base.py.

Several hosts: start the same command once per host (or per GPU); under SLURM (srun) or Open MPI the processes find
each other by themselves, elsewhere pass --coordinator_address=HOST0:PORT --num_processes=N --process_id=I (or set
JAX_COORDINATOR_ADDRESS), on a TPU pod add --jax_distributed=on. docs/scaling.md, "Many hosts", has the details.
"""

from transformer_jax import launch  # first: sets the CPU device count

from absl import app, flags  # pylint: disable=g-import-not-at-top
from ml_collections import config_flags  # pylint: disable=g-import-not-at-top

from transformer_jax import cli  # pylint: disable=g-import-not-at-top

FLAGS = flags.FLAGS


def _define_flags():
  # Every command defines its flags when run, not on import, so modules can import each other without clashes.
  flags.DEFINE_string("workdir", None, "Directory for checkpoints, the tokenizer, the resolved config, TensorBoard "
                      "events and results.json. Reusing it resumes the run.", required=True)
  config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/default.py; override keys with "
                                  "--config.KEY=VALUE.", lock_config=True)
  flags.mark_flags_as_required(["config"])
  flags.adopt_module_key_flags(launch)  # --help lists the multi-host flags too


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  launch.setup(FLAGS.config)
  # Imported here: TensorFlow (TensorBoard's writer) loads in seconds, and --help or a bad flag should not wait.
  from transformer_jax import train  # pylint: disable=g-import-not-at-top
  train.train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
