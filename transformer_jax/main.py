"""Train and evaluate a Transformer.

  python -m transformer_jax.main --config=configs/default.py --workdir=runs/demo [--config.KEY=VALUE ...]

--config names a file in configs/ (each one's docstring has its command); any key of it can be overridden on the
command line, e.g. --config.num_train_steps=1000 --config.d_model=256. Unknown keys and wrong types are refused.
Rerunning the same command with the same --workdir resumes from the latest checkpoint there.
The full list of keys, with their meaning, is in transformer_jax/config_base.py.
"""

from absl import app, flags, logging
from ml_collections import config_flags

from transformer_jax import train

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for checkpoints, the tokenizer, the resolved config, TensorBoard "
                    "events and results.json. Reusing it resumes the run.", required=True)
config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/default.py; override keys with "
                                "--config.KEY=VALUE.", lock_config=True)
flags.mark_flags_as_required(["config"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  logging.get_absl_handler().python_handler.stream.reconfigure(line_buffering=True)
  train.train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
  app.run(main)
