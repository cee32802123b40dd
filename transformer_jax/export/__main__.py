"""Export a trained run for CTranslate2 or Hugging Face transformers (see transformer_jax/export/__init__.py).

  python -m transformer_jax.export --workdir=runs/demo --format=ctranslate2 --output=exported/demo-ct2
  python -m transformer_jax.export --workdir=runs/demo --format=ctranslate2 --quantization=int8 --output=DIR
  python -m transformer_jax.export --workdir=runs/demo/averaged_last5 --format=huggingface --output=DIR
"""

from __future__ import annotations

from absl import app, flags

from transformer_jax import cli, export

FLAGS = flags.FLAGS


def _define_flags():
  flags.DEFINE_string("workdir", None, "Workdir of a training run, or an averaged one (average_checkpoints).",
                      required=True)
  flags.DEFINE_enum("format", None, export.FORMATS, "ctranslate2: a CTranslate2 model directory; huggingface: "
                    "MarianMTModel + MarianTokenizer files for from_pretrained.", required=True)
  flags.DEFINE_string("output", None, "Directory to write (new, or empty unless --overwrite); never a run's "
                      "workdir, a folder inside one, or one that holds one.", required=True)
  flags.DEFINE_enum("quantization", "float32", export.QUANTIZATIONS, "Weight type of a CTranslate2 model "
                    "(int8 and float16 shrink it 4x and 2x; CTranslate2 converts again at load if the device needs).")
  flags.DEFINE_integer("step", None, "Checkpoint step to export (default: the latest).")
  flags.DEFINE_bool("overwrite", False, "Delete everything in an existing --output directory and put the export "
                    "there (once the new export is complete). Never allowed for a run's workdir.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  info = export.export_run(FLAGS.workdir, FLAGS.format, FLAGS.output, quantization=FLAGS.quantization,
                           step=FLAGS.step, overwrite=FLAGS.overwrite)
  print(f"Exported step {info['step']} of {FLAGS.workdir} ({info['parameters']:,} parameters, "
        f"{info['quantization']}) as {FLAGS.format} to {FLAGS.output}; its README.md says how to load it.")


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
