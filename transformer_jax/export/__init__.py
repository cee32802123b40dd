"""A trained run as a model other engines load: CTranslate2 (fast C++ inference, int8 / float16) and Hugging Face
transformers (`MarianMTModel.from_pretrained`, `generate`, the Hub).

  python -m transformer_jax.export --workdir=W --format=ctranslate2|huggingface --output=DIR

Both engines implement the same post-norm encoder-decoder with a tied embedding, so the weights map over exactly:
- CTranslate2 takes our layout as it is, given the paper's interleaved sinusoid table explicitly (its built-in one
  puts the sines and cosines in two halves), LayerNorm epsilon 1e-6 (flax's, CTranslate2's default is 1e-5) and the
  key projection's missing bias as zeros inside the fused query/key/value bias. Its pre-norm layout (pre_norm=True:
  each sub-layer's LayerNorm on its input, a final one per stack) takes norm_position="pre" the same way.
- MarianMTModel's sinusoid table is fixed: it is ours with the d_model dimensions reordered (sines first, then
  cosines). LayerNorm, the linear maps and the tied output projection commute with reordering the residual stream,
  so every weight that reads or writes it is permuted the same way and the logits are unchanged. Its LayerNorm
  epsilon is fixed at 1e-5, the one difference left (logits within about 1e-4).
What does not map is refused with the config key to blame (`unsupported`). Decoding differs in up to two places,
written into the exported README: both engines divide by length^alpha, the length counting EOS (ours too with
length_penalty_form="length", else ((5 + length) / 6)^alpha), and both stop the beam after beam_size finished
hypotheses (ours: when no live hypothesis can still win).

Every exported directory holds `transformer_jax.json` (EXPORT_INFO): where it came from and the run's decoding
settings, which `translate --engine=ctranslate2` reads.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from transformer_jax import config_base
from transformer_jax.errors import ConfigError, UserError

FORMATS = ("ctranslate2", "huggingface")
PACKAGES = {"ctranslate2": "ctranslate2", "huggingface": "transformers"}  # what each format needs installed
QUANTIZATIONS = ("float32", "int8", "int8_float32", "int8_float16", "int16", "float16", "bfloat16")
EXPORT_INFO = "transformer_jax.json"
TOKENIZER = "sentencepiece.model"  # the run's vocabulary, copied beside a CTranslate2 model


class MissingDependencyError(UserError, ImportError):
  """An optional package the command needs is not installed."""


def require(module: str, package: str):
  """`import module`, or a message naming the pip command when it is not installed."""
  import importlib  # pylint: disable=g-import-not-at-top
  try:
    return importlib.import_module(module)
  except ImportError as error:
    raise MissingDependencyError(f"{package} is not installed ({error}): pip install {package}, or "
                                 "pip install -e '.[export]' for both export engines") from error


@dataclasses.dataclass(frozen=True)
class DecodingSettings:
  """What our decoder does with a run, so another engine can be asked for the same: beam, length penalty, how long
  outputs may grow and how long sources are kept."""
  source_lang: str
  target_lang: str
  beam_size: int
  length_penalty_alpha: float
  decode_extra_length: int  # an output may have its source's length (EOS included) plus this many tokens...
  max_decode_length: int  # ...but never more than this
  max_source_length: int  # sources are truncated to this many tokens, EOS included
  # config_base.LENGTH_PENALTY_FORMS; "gnmt" in an export written before the field existed
  length_penalty_form: str = "gnmt"

  @classmethod
  def from_config(cls, config, max_position: int) -> "DecodingSettings":
    return cls(config.source_lang, config.target_lang, int(config.beam_size), float(config.length_penalty_alpha),
               int(config.decode_extra_length), int(config.max_decode_length),
               min(int(config.bucket_lengths[-1]), max_position), config_base.length_penalty_form(config))

  def output_limit(self, source_length: int) -> int:
    """The most target tokens (EOS included) our decoder lets a source of this many tokens (EOS included) have."""
    from transformer_jax.decode import decode_length  # pylint: disable=g-import-not-at-top  (JAX)
    return decode_length(source_length, self.decode_extra_length, self.max_decode_length)


def norm_position(config) -> str:
  """The run's norm_position; "post" for a workdir whose config.json predates the key."""
  return config.get("norm_position", "post")


def unsupported(config, fmt: str) -> list[str]:
  """Why this run's model cannot be written in `fmt`, one message per config key (empty: it can)."""
  d_k, d_v = config_base.head_dims(config)
  problems = []
  if d_k != d_v:
    problems.append(f"d_k={d_k} and d_v={d_v} differ: {fmt} models use one head size for keys and values")
  if fmt == "huggingface":
    if d_k * config.num_heads != config.d_model:
      problems.append(f"d_k={d_k} with num_heads={config.num_heads} is not d_model={config.d_model} / num_heads: "
                      "MarianMTModel's head size is always d_model / heads (export with --format=ctranslate2)")
    if config.positional_encoding != "sinusoidal":
      problems.append(f"positional_encoding={config.positional_encoding!r}: MarianMTModel's positions are a fixed "
                      "sinusoid table that save_pretrained does not keep (export with --format=ctranslate2)")
    if norm_position(config) != "post":
      problems.append(f"norm_position={norm_position(config)!r}: MarianMTModel is post-norm only (export with "
                      "--format=ctranslate2)")
  return problems


def check_exportable(config, fmt: str) -> None:
  problems = unsupported(config, fmt)
  if problems:
    raise ConfigError(f"this run's model cannot be exported as {fmt}: " + "; ".join(problems))


def residual_permutation(d_model: int) -> np.ndarray:
  """Marian's sinusoid layout in terms of ours: its dimension j is our dimension perm[j] (the sines, our even
  dimensions, first; then the cosines, our odd ones)."""
  return np.concatenate([np.arange(0, d_model, 2), np.arange(1, d_model, 2)])


def host_params(params) -> dict:
  """The parameter tree as float32 numpy arrays (exported weights are float32 whatever the compute dtype)."""
  import jax  # pylint: disable=g-import-not-at-top
  # Copies: CTranslate2 quantizes the arrays it is given in place.
  return jax.tree_util.tree_map(lambda x: np.array(jax.device_get(x), np.float32), params)


def write_info(output: str, info: dict) -> None:
  with open(os.path.join(output, EXPORT_INFO), "w") as f:
    json.dump(info, f, indent=2)


def read_info(model_dir: str) -> dict:
  from transformer_jax.errors import MissingFileError  # pylint: disable=g-import-not-at-top
  path = os.path.join(model_dir, EXPORT_INFO)
  if not os.path.isfile(path):
    raise MissingFileError(f"{path} not found: --model_dir must be a directory written by "
                           "python -m transformer_jax.export")
  with open(path) as f:
    return json.load(f)


def _readme(fmt: str, info: dict) -> str:
  settings = info["decoding"]
  source = f"{info['workdir']}, step {info['step']}" + (
      f" (the average of steps {info['averaged_steps']})" if info.get("averaged_steps") else "")
  alpha, beam = settings["length_penalty_alpha"], settings["beam_size"]
  if settings.get("length_penalty_form", "gnmt") == "length":
    penalty = (f"- Length penalty: the same. Both divide a hypothesis' log-probability by length^alpha (alpha "
               f"{alpha}), the\n  length counting its EOS (the run's length_penalty_form='length').")
  else:
    penalty = ("- Length penalty: this engine divides a hypothesis' log-probability by length^alpha; transformer_jax "
               "divides by\n  ((5 + length) / 6)^alpha (Wu et al. 2016, the paper's). At alpha = 0 both rank by "
               "log-probability alone.")
  if fmt == "ctranslate2":
    load = f"""\
```python
import ctranslate2, sentencepiece
sp = sentencepiece.SentencePieceProcessor(model_file="{TOKENIZER}")
translator = ctranslate2.Translator(".", compute_type="default")  # int8, float16, ... converted at load
results = translator.translate_batch([sp.encode("a sentence", out_type=str)], beam_size={beam},
                                     length_penalty={alpha}, max_decoding_length={settings['max_decode_length']})
print(sp.decode(results[0].hypotheses[0]))
```
Or with the command that trained it: `python -m transformer_jax.translate --engine=ctranslate2 --model_dir=.`.
The source's EOS is added by CTranslate2 (`add_source_eos`); the decoder starts from EOS, as in training."""
  else:
    load = f"""\
```python
from transformers import MarianMTModel, MarianTokenizer
tokenizer, model = MarianTokenizer.from_pretrained("."), MarianMTModel.from_pretrained(".")
print(tokenizer.batch_decode(model.generate(**tokenizer(["a sentence"], return_tensors="pt")),
                             skip_special_tokens=True))
```
`generation_config.json` holds the run's beam ({beam}) and length limit. The weights' d_model axis is reordered to
Marian's sinusoid layout; the logits are the trained model's (Marian's LayerNorm epsilon is 1e-5, ours 1e-6)."""
  return f"""\
# {info['source_lang']}→{info['target_lang']} Transformer for {fmt}

Exported by `python -m transformer_jax.export` from {source}: {info['parameters']:,} parameters,
{info['num_layers']} + {info['num_layers']} layers, d_model {info['d_model']}, {info['num_heads']} heads,
weights {info['quantization']}.

{load}

## What differs from transformer_jax's own decoder
{penalty}
- Stopping: the beam stops once beam_size hypotheses have finished (CTranslate2's `patience` widens that);
  transformer_jax stops when no live hypothesis can still beat the finished ones.
- Length limit: transformer_jax lets an output have its source's length + {settings['decode_extra_length']} tokens
  (at most {settings['max_decode_length']}) and ends it with EOS there; this engine takes one fixed
  maximum length.
Greedy search and beam search at alpha = 0 give the same translations as transformer_jax.

`{EXPORT_INFO}` records the run's decoding settings and where the model came from.
"""


def export_run(workdir: str, fmt: str, output: str, *, quantization: str = "float32", step: int | None = None,
               overwrite: bool = False) -> dict:
  """Writes the run's model to `output` in `fmt`; returns what it wrote into EXPORT_INFO. The directory appears
  complete or not at all (written beside it, then swapped in: an overwrite keeps the old export until the new one is
  complete). An output that is, holds or lies inside a run's workdir is refused."""
  import shutil  # pylint: disable=g-import-not-at-top
  from transformer_jax import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  from transformer_jax.errors import WorkdirError  # pylint: disable=g-import-not-at-top
  from transformer_jax.model import count_parameters  # pylint: disable=g-import-not-at-top
  if fmt not in FORMATS:
    raise ConfigError(f"--format={fmt}: must be one of {', '.join(FORMATS)}")
  if quantization not in QUANTIZATIONS:
    raise ConfigError(f"--quantization={quantization}: must be one of {', '.join(QUANTIZATIONS)}")
  if fmt == "huggingface" and quantization != "float32":
    raise ConfigError(f"--quantization={quantization} applies to --format=ctranslate2; a Hugging Face export is "
                      "float32 (cast it after loading: MarianMTModel.from_pretrained(..., dtype=...))")
  workdir_lib.refuse_to_replace_a_run(output, "--output")
  if os.path.exists(output) and os.listdir(output) and not overwrite:
    raise WorkdirError(f"--output={output} exists and is not empty: choose a new directory, or pass --overwrite "
                       "to delete everything in it and put the export there")
  check_exportable(workdir_lib.load_config(workdir), fmt)
  require(PACKAGES[fmt], PACKAGES[fmt])  # before the slow loading
  config, tokenizer, model, params = workdir_lib.load(workdir, step)
  cfg = model.config
  params = host_params(params)
  pieces = [tokenizer.id_to_piece(i) for i in range(tokenizer.vocab_size)]
  settings = DecodingSettings.from_config(config, cfg.max_position)
  manager = workdir_lib.checkpointer(workdir)
  loaded_step = step if step is not None else manager.latest_step()
  manager.close()
  averaged = workdir_lib.read_json(workdir, workdir_lib.AVERAGED_INFO)
  info = dict(format=fmt, quantization=quantization, workdir=os.path.abspath(workdir), step=loaded_step,
              averaged_steps=averaged.get("averaged_steps") if averaged else None, parameters=count_parameters(params),
              source_lang=config.source_lang, target_lang=config.target_lang, num_layers=cfg.num_layers,
              d_model=cfg.d_model, num_heads=cfg.num_heads, decoding=dataclasses.asdict(settings))

  partial = output.rstrip(os.sep) + ".partial"
  shutil.rmtree(partial, ignore_errors=True)
  os.makedirs(partial)
  tokenizer_path = workdir_lib.path(workdir, workdir_lib.TOKENIZER)
  if fmt == "ctranslate2":
    from transformer_jax.export import to_ctranslate2  # pylint: disable=g-import-not-at-top
    to_ctranslate2.write(partial, params, cfg, pieces, quantization)
    shutil.copyfile(tokenizer_path, os.path.join(partial, TOKENIZER))
  else:
    from transformer_jax.export import to_huggingface  # pylint: disable=g-import-not-at-top
    dropout = dict(dropout=cfg.dropout_rate, attention_dropout=cfg.attention_dropout_rate,
                   activation_dropout=cfg.relu_dropout_rate)
    to_huggingface.write(partial, params, cfg, dropout, tokenizer_path, pieces, settings)
  write_info(partial, info)
  with open(os.path.join(partial, "README.md"), "w", encoding="utf-8") as f:
    f.write(_readme(fmt, info))
  workdir_lib.replace_directory(partial, output)
  return info
