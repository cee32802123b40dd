"""The one list of configuration keys, their types and defaults, and the checks run before anything compiles.

Every file in configs/ starts from `base_config()` and overrides values, so a key that is not defined here does not
exist: ml_collections refuses unknown keys and wrong types on the command line (`--config.d_modl=...` fails naming
the key), and `validate` refuses values and combinations that could not work.
"""

from __future__ import annotations

import math

from transformer_jax.data import sources  # the dataset definitions; no TensorFlow until data is read
from transformer_jax.errors import ConfigError


POSITIONAL_ENCODINGS = ("sinusoidal", "learned")
NORM_POSITIONS = ("post", "pre")  # where each residual block's LayerNorm goes (model.ResidualNorm)
# The values `dataset` accepts, one definition each in transformer_jax/data/sources/ (its languages, its checks).
DATASETS = sources.NAMES
DTYPES = ("float32", "bfloat16")
# t5x/MaxText-style rules: heads, FFN width and vocabulary over "tensor"; d_model (every weight has it) over "fsdp".
LOGICAL_AXIS_RULES = (("vocab", "tensor"), ("mlp", "tensor"), ("heads", "tensor"), ("embed", "fsdp"), ("kv", None),
                      ("position", None))
MAX_TRAIN_BUCKETS = 32  # fitted training buckets: one compile each
ATTENTION_IMPLS = ("naive", "xla", "cudnn")  # attention.IMPLEMENTATIONS; repeated so configs need no JAX import
PUBLISHED_METRICS = ("tokenized_bleu", "protocol_bleu", "sacrebleu")
LENGTH_PENALTY_FORMS = ("gnmt", "length")  # decode.LENGTH_PENALTY_FORMS, likewise


def base_config():
  """The paper's Transformer-base (Vaswani et al. 2017, Table 3 row 'base') on the embedded corpus."""
  # Imported here, not at the top: the model and the benchmark use this module's checks on machines with only JAX.
  import ml_collections  # pylint: disable=g-import-not-at-top
  c = ml_collections.ConfigDict()

  # ---- Data ----
  c.dataset = "embedded_ende"  # One of DATASETS: a tfds name, or "local" for your own files (below).
  c.source_lang = "en"  # The direction: features (tfds) or files (local) of these languages become source/target.
  c.target_lang = "de"
  c.tfds_data_dir = ""  # Where tfds keeps prepared datasets; "" = tfds' default (~/tensorflow_datasets).
  # dataset="local": each split is either one TSV file (.tsv or .tsv.gz, columns in local_tsv_languages order) or
  # a pattern with "{lang}" naming one line-aligned file per language (plain, or gzip if it ends in .gz), e.g.
  # "/data/train.{lang}.gz" -> train.en.gz and train.de.gz. local_test may be "" (no final test decoding).
  c.local_train = ""
  c.local_validation = ""
  c.local_test = ""
  c.local_tsv_languages = ("en", "de")
  # dataset="multi30k": the directory holding train/val/test_2016_flickr.{lang}.gz, as the dataset's repository
  # names them (`python -m transformer_jax.data.multi30k --dir=DIR` downloads them).
  c.multi30k_dir = ""
  # dataset="huggingface": a translation dataset read with Hugging Face's `datasets` (examples {"translation":
  # {lang: text}}): a Hub id or a local directory in the Hub's layout. The WMT configs' ":hf" variant sets these to
  # the Hub copy of their tfds dataset (configs/wmt14_ende_base.py:hf -> wmt/wmt14, de-en).
  c.hf_dataset = ""
  c.hf_config = ""  # the dataset's config, e.g. "de-en"
  c.hf_revision = ""  # a branch, tag or commit of the Hub repository; "" = its default branch
  c.hf_cache_dir = ""  # where `datasets` keeps the prepared data; "" = its default (HF_HOME, ~/.cache/huggingface)
  # The dataset's names for our (train, validation, test) splits; test may be "" (no final test decoding).
  c.hf_split_names = ("train", "validation", "test")
  c.token_cache_dir = ""  # Training token ids are cached here once; "" = <workdir>/token_cache.
  c.embedded_seed = 0  # The embedded corpus is generated from this seed; the same seed gives the same corpus.
  c.embedded_num_train = 200_000  # Sentence pairs in the embedded training split.
  c.vocab_size = 37_000  # Shared source/target SentencePiece vocabulary (the paper: ~37k BPE for EN-DE).
  c.sentencepiece_model_type = "unigram"  # "unigram" or "bpe".
  c.tokenizer_train_sentences = 1_000_000  # Sentences sampled (from the whole training text) to train SentencePiece.
  # Text preprocessing (transformer_jax/text_preprocessing.py), in this order, of both sides of every split before
  # the vocabulary is trained and the ids are encoded, and of translate's input; the model then reads and writes the
  # preprocessed text, and evaluation adds protocol_bleu: BLEU4 on its whitespace tokens. Off = the raw text.
  # All three on = the Moses pipeline of fairseq-era Multi30k papers (Wu et al. 2021).
  c.moses_normalize_punctuation = False  # Moses' normalize-punctuation.perl -l LANG („“ -> ", – -> -, ...)
  c.lowercase_text = False
  c.moses_tokenize = False  # Moses' tokenizer.perl -l LANG, escaping & -> &amp;, ' -> &apos;, ... (undone on output)
  c.max_source_length = 256  # Training pairs with a longer side (in tokens, EOS included) are dropped and counted.
  c.max_target_length = 256
  # Training batch size in REAL (non-padding) tokens per global batch and side: bucketed rows are sized so that a
  # batch holds about this many source and this many target tokens (their mean; the paper: ~25k source + ~25k
  # target). 0 = size training batches by padded positions, tokens_per_batch.
  c.real_tokens_per_batch = 0
  c.tokens_per_batch = 25_000  # PADDED target positions per batch: dev-loss batches, and training if the above is 0.
  c.bucket_lengths = (16, 32, 64, 128, 256)  # Padded lengths a batch may have: one compile per length.
  # If > 0: training buckets are this many padded lengths fitted to the training pairs' lengths (fewest padded
  # positions; multiples of 4, the longest at most bucket_lengths[-1]); one compile each. 0 = bucket_lengths.
  # Packed rows (below) have one length, bucket_lengths[-1], and ignore it.
  c.train_bucket_count = 0
  c.pack_training_rows = False  # Pack several pairs per row of bucket_lengths[-1] tokens instead of bucketing.
  # Packing fills this many rows at once, first fit (1 = next fit: a row closes at the first pair that does not fit).
  # More open rows fill the room the longer side leaves on the shorter one; 8 kept padding under 6% a side.
  c.pack_open_rows = 1

  # ---- Model (every Table 3 knob) ----
  c.num_layers = 6  # N: layers in the encoder and in the decoder.
  c.d_model = 512
  c.d_ff = 2048
  c.num_heads = 8  # h
  c.d_k = 0  # Query/key size per head; 0 means d_model // num_heads (the paper's d_k = d_v = 64).
  c.d_v = 0  # Value size per head; 0 means d_model // num_heads.
  c.dropout_rate = 0.1  # P_drop: residual dropout and dropout on embeddings + positions.
  c.attention_dropout_rate = 0.0  # Not in the paper (tensor2tensor added it later); 0 keeps the paper's model.
  c.relu_dropout_rate = 0.0  # Likewise: dropout inside the FFN, off in the paper.
  c.label_smoothing = 0.1  # eps_ls
  c.positional_encoding = "sinusoidal"  # "learned" is Table 3 row (E).
  c.max_position = 512  # Longest sequence the positional table (sinusoidal or learned) covers.
  c.attention_bias = True  # Biases in the Q/V/O projections (the paper's equations show none; keys never have one).
  # "post" (the paper): x = LayerNorm(x + Dropout(Sublayer(x))). "pre" (fairseq's normalize_before, tensor2tensor
  # v2): x = x + Dropout(Sublayer(LayerNorm(x))), and one more LayerNorm on each stack's output.
  c.norm_position = "post"
  # Compute dtype of matmuls and activations. "bfloat16" is mixed precision: parameters, optimiser state, attention
  # softmax, layer-norm statistics and the loss stay float32 (transformer_jax/precision.py).
  c.dtype = "float32"
  # Attention kernel: "naive" (einsums + masked softmax; the reference, and the only one with attention dropout),
  # "xla" or "cudnn" (jax.nn.dot_product_attention; cudnn = fused flash attention on NVIDIA GPUs, bfloat16 only).
  # All give the same results; "xla"/"cudnn" pass rows of one sentence as sequence lengths (packed rows: "xla" takes
  # the dense segment mask, "cudnn" is refused). The cached decoder uses "xla" for "cudnn".
  c.attention_impl = "naive"

  # ---- Optimiser (the paper: Adam 0.9/0.98/1e-9, inverse square root with warmup) ----
  c.learning_rate_scale = 1.0  # Multiplies d_model^-0.5 * min(step^-0.5, step * warmup^-1.5); the paper uses 1.
  c.warmup_steps = 4000
  # > 0: the rate is also multiplied by a factor falling linearly from 1 to 1/N over the last N of num_train_steps
  # (0 = the paper's schedule).
  c.learning_rate_cooldown_steps = 0
  c.adam_b1 = 0.9
  c.adam_b2 = 0.98
  c.adam_eps = 1e-9
  # Micro-batches per optimiser step: the global batch (tokens_per_batch) is split along its rows into this many
  # parts run one after the other, their gradients summed: the same update in 1/k of the activation memory.
  c.grad_accum_steps = 1
  c.grad_clip_norm = 0.0  # 0 disables clipping (the paper clips nothing).
  c.nonfinite_policy = "stop"  # NaN/Inf loss or gradient: "stop" the run naming the step, or "skip" the update.
  c.num_train_steps = 100_000
  c.max_train_seconds = 0.0  # If > 0, stop training (and save) after this much training time; 0 = no limit.
  # Many hosts: a process not heard from for this long is taken as lost, and the others stop, saying so (each beats
  # every min(1, this / 10) s; a long compile or checkpoint write does not silence it). The run resumes when rerun.
  c.peer_timeout_seconds = 60.0

  # ---- Decoding (the paper: beam 4, alpha 0.6, max length = source length + 50) ----
  c.beam_size = 4
  c.length_penalty_alpha = 0.6
  # Hypotheses are ranked by log P / lp(n), n their tokens with EOS: "gnmt" lp = ((5 + n) / 6)^alpha (Wu et al. 2016,
  # the paper's), "length" lp = n^alpha (fairseq's --lenpen, Marian, CTranslate2, Hugging Face; alpha 1 = the mean
  # log-probability per token).
  c.length_penalty_form = "gnmt"
  c.decode_extra_length = 50  # Each output may be this many tokens longer than its source...
  c.max_decode_length = 256  # ...but never longer than this.
  c.decode_batch_size = 64  # Sentences per beam-search batch.
  # Test sentences decoded at the end; 0 = the whole test split (smoke tests use fewer); -1 = none (sweeps that
  # compare runs on dev, as the paper's Table 3 does).
  c.num_test_sentences = 0
  # The test score at the end decodes the mean parameters of the last K checkpoints (the paper's section 6.1: 5 for
  # base, 20 for big). 1 = the final step only.
  c.test_average_last = 1
  c.test_score_final_step = True  # With test_average_last > 1, also score the final step alone (one more decode).

  # ---- What the config reproduces: `python -m transformer_jax.reproduce` sets the figure beside ours ----
  c.published_bleu = 0.0  # The test BLEU a publication reports for this recipe; 0 = none.
  # Which of our test figures it compares with: "tokenized_bleu" (the paper's compound-split BLEU), "protocol_bleu"
  # (BLEU4 on the preprocessed text, with text preprocessing on) or "sacrebleu".
  c.published_metric = "tokenized_bleu"
  c.published_in = ""  # Where the figure comes from (publication, table, metric).

  # ---- Loop, evaluation, checkpoints ----
  c.seed = 0
  c.log_every_steps = 100
  c.eval_every_steps = 1000  # Dev loss and dev BLEU; 0 disables periodic evaluation.
  # If > 0, evaluate on dev at the end of every this many epochs of the training batches (fairseq validates after
  # each epoch) instead of every eval_every_steps. An epoch is the batcher's batches_per_epoch steps (with packed
  # rows, the first epoch's count: later epochs pack into a few batches more or fewer).
  c.eval_every_epochs = 0
  c.num_dev_bleu_sentences = 500  # Dev sentences beam-decoded for the periodic dev BLEU; 0 = dev loss only.
  c.checkpoint_every_steps = 1000
  c.checkpoint_every_epochs = 0  # If > 0, checkpoint every this many epochs instead of every checkpoint_every_steps.
  # If > 0, stop training after this many dev evaluations in a row without a lower dev loss than the best so far
  # (fairseq's --patience), save, and run the final test as a run that reached num_train_steps does; 0 = never.
  c.early_stopping_patience = 0
  c.max_checkpoints_to_keep = 5
  # Trace the profile_num_steps steps after step profile_start_step with jax.profiler into WORKDIR/profile and log
  # where their time goes (transformer_jax/profiling.py); 0 = never. Pick steps away from evaluations and checkpoints.
  c.profile_start_step = 0
  c.profile_num_steps = 3

  # ---- Devices: mesh ("data", "fsdp", "tensor"), see transformer_jax/sharding.py ----
  # Sizes of the mesh axes; one may be -1: all devices the others leave. Batch rows are split over data * fsdp.
  c.mesh_data = -1  # data parallelism, parameters replicated
  c.mesh_fsdp = 1  # data parallelism with parameters and optimiser state sharded (FSDP / ZeRO-3)
  c.mesh_tensor = 1  # tensor (Megatron) parallelism: heads, d_ff and vocabulary split
  # Logical parameter axis -> mesh axis (or axes, or None); the first rule naming an axis wins. Names: vocab, embed
  # (d_model), mlp (d_ff), heads, kv (d_k/d_v), position (learned positions).
  c.logical_axis_rules = LOGICAL_AXIS_RULES
  return c


DATA_SOURCE_VARIANTS = ("tfds", "hf")  # what a WMT config file's argument may be: configs/wmt14_ende_base.py:hf


def with_data_source(config, variant: str | None):
  """A WMT config on the source `variant` names: "tfds" (or none) keeps its tfds dataset; "hf" reads the same data,
  the same splits, from the Hugging Face Hub's copy (dataset="huggingface")."""
  variant = variant or "tfds"
  if variant not in DATA_SOURCE_VARIANTS:
    raise ConfigError(f"config argument {variant!r}: must be one of {DATA_SOURCE_VARIANTS} (e.g. "
                      "--config=configs/wmt14_ende_base.py:hf)")
  if variant == "hf":
    hub_copy = getattr(sources.get(config.dataset), "hub_copy", None)
    if hub_copy is None:
      raise ConfigError(f"dataset={config.dataset!r} has no Hugging Face copy registered: set "
                        "--config.dataset=huggingface --config.hf_dataset=... --config.hf_config=... yourself")
    config.dataset = "huggingface"
    config.hf_dataset, config.hf_config = hub_copy
  return config


def sibling_config(config_file: str, name: str):
  """The config file `name`.py beside `config_file`, as a module: configs build on each other by path, so they work
  from any directory and with the package installed (there is no importable `configs` package)."""
  import os  # pylint: disable=g-import-not-at-top
  from transformer_jax import pyfile  # pylint: disable=g-import-not-at-top
  return pyfile.load_module(os.path.join(os.path.dirname(os.path.abspath(config_file)), f"{name}.py"),
                            f"_config_{name}")


def load_config_file(path: str, overrides: dict[str, str] | None = None):
  """The config `--config=path --config.KEY=VALUE ...` gives main: the same flag parsing, so a sweep reads each
  run's config exactly as its training command does (values as their command-line text)."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  values = flags.FlagValues()
  argv = ["config", f"--config={path}"] + [f"--config.{key}={value}" for key, value in (overrides or {}).items()]
  config_flags.DEFINE_config_file("config", None, "", flag_values=values, lock_config=True, sys_argv=argv)
  values(argv)
  return values.config


def resolved(value: int, default: int) -> int:
  return value if value > 0 else default


def length_penalty_form(config) -> str:
  """The run's length_penalty_form; "gnmt" for a workdir whose config.json predates the key."""
  return config.get("length_penalty_form", "gnmt")


def head_dims(config) -> tuple[int, int]:
  """(d_k, d_v) with the paper's default d_model // h filled in."""
  return (resolved(config.d_k, config.d_model // config.num_heads),
          resolved(config.d_v, config.d_model // config.num_heads))


def mesh_sizes(data: int, fsdp: int, tensor: int, num_devices: int) -> tuple[int, int, int]:
  """Sizes of the ("data", "fsdp", "tensor") mesh axes; one of them may be -1: the devices the others leave."""
  sizes = [data, fsdp, tensor]
  if sizes.count(-1) > 1 or any(s == 0 or s < -1 for s in sizes):
    raise ConfigError(f"mesh_data/mesh_fsdp/mesh_tensor = {sizes}: each must be >= 1, at most one may be -1")
  known = math.prod(s for s in sizes if s > 0)
  if -1 in sizes:
    if num_devices % known:
      raise ConfigError(f"mesh_data/mesh_fsdp/mesh_tensor = {sizes}: {num_devices} devices do not split into "
                        f"groups of {known}")
    sizes[sizes.index(-1)] = num_devices // known
  if math.prod(sizes) > num_devices:
    raise ConfigError(f"mesh_data/mesh_fsdp/mesh_tensor = {sizes} needs {math.prod(sizes)} devices, but only "
                      f"{num_devices} are visible")
  return tuple(sizes)


def _check_mesh(config, num_devices: int | None, check) -> None:
  """Mesh sizes, axis rules, and every sharded dimension divisible by the mesh axes it is split over."""
  keys = {"data": "mesh_data", "fsdp": "mesh_fsdp", "tensor": "mesh_tensor"}
  sizes = {axis: config[key] for axis, key in keys.items()}
  valid = [v == -1 or v >= 1 for v in sizes.values()]
  for (axis, key), ok in zip(keys.items(), valid):
    check(ok, f"{key}={sizes[axis]}: must be >= 1, or -1 for the devices the other axes leave")
  check(list(sizes.values()).count(-1) <= 1, "mesh_data/mesh_fsdp/mesh_tensor: at most one may be -1")
  if num_devices is not None and all(valid) and list(sizes.values()).count(-1) <= 1:
    try:
      sizes = dict(zip(sizes, mesh_sizes(*sizes.values(), num_devices)))
    except ConfigError:
      check(False, f"mesh_data/mesh_fsdp/mesh_tensor={tuple(config[k] for k in keys.values())} do not fit the "
            f"{num_devices} visible devices")
  try:
    rules = [(name, tuple(axes) if isinstance(axes, (list, tuple)) else axes)
             for name, axes in config.logical_axis_rules]
  except (TypeError, ValueError):
    check(False, f"logical_axis_rules={config.logical_axis_rules!r}: must be pairs (logical name, mesh axes)")
    return
  for name, axes in rules:
    for axis in (axes if isinstance(axes, tuple) else (axes,)):
      check(axis is None or axis in keys, f"logical_axis_rules: {name!r} -> {axis!r} is not a mesh axis "
            f"{tuple(keys)}")
  d_k, d_v = head_dims(config) if config.num_heads >= 1 else (1, 1)
  dimensions = {"vocab": [("vocab_size", config.vocab_size)], "embed": [("d_model", config.d_model)],
                "mlp": [("d_ff", config.d_ff)], "heads": [("num_heads", config.num_heads)],
                "kv": [("d_k", d_k), ("d_v", d_v)], "position": [("max_position", config.max_position)]}
  used = set()  # the first rule of a name is checked (flax tries a later one only if those mesh axes are taken)
  for name, axes in rules:
    axes = axes if isinstance(axes, tuple) else (axes,)
    if name not in dimensions or name in used:
      continue
    used.add(name)
    parts = math.prod(sizes[a] for a in axes if a in sizes and sizes[a] > 0)
    for key, value in dimensions[name]:
      check(parts <= 1 or value % parts == 0,
            f"{key}={value} is not divisible by {parts}, the devices on mesh axes {axes} that logical_axis_rules "
            f"split {name!r} over ({', '.join(f'{keys[a]}={sizes[a]}' for a in axes if a in keys)}): change "
            f"{key} or the mesh")


def _check_text_preprocessing(config, check) -> None:
  from transformer_jax import text_preprocessing  # pylint: disable=g-import-not-at-top
  for key in text_preprocessing.KEYS:
    check(isinstance(config[key], bool), f"{key}={config[key]!r}: must be True or False")
  if config.moses_tokenize is True:
    # tokenizer.perl falls back to English's rules for a language it does not know: refused rather than guessed.
    known = text_preprocessing.moses_languages()
    for key in ("source_lang", "target_lang"):
      check(config[key] in known, f"moses_tokenize=True: Moses has no rules for {key}={config[key]!r} (it knows "
            f"{', '.join(known)}): set moses_tokenize=False (SentencePiece alone needs no language rules)")


def validate(config, num_devices: int | None = None) -> None:
  """Raises ValueError listing every problem, each naming its key, before anything compiles.

  With num_devices, mesh sizes of -1 are resolved and checked against it too."""
  problems = []

  def check(ok: bool, message: str):
    if not ok:
      problems.append(message)

  _check_mesh(config, num_devices, check)

  source = sources.BY_NAME.get(config.dataset)
  check(source is not None, sources.unknown_dataset(config.dataset))
  languages = None
  if source is not None:
    problems.extend(source.config_problems(config))
    languages = source.offered_languages(config)
  check(config.source_lang != config.target_lang,
        f"source_lang and target_lang are both {config.source_lang!r}: they must differ")
  if languages is not None:
    for key in ("source_lang", "target_lang"):
      check(config[key] in languages, f"{key}={config[key]!r}: dataset {config.dataset!r} offers {languages}")
  check(config.positional_encoding in POSITIONAL_ENCODINGS,
        f"positional_encoding={config.positional_encoding!r}: must be one of {POSITIONAL_ENCODINGS}")
  check(config.norm_position in NORM_POSITIONS, f"norm_position={config.norm_position!r}: must be one of "
        f"{NORM_POSITIONS} ('post' = the paper's LayerNorm after each residual sum, 'pre' = before each sub-layer)")
  check(config.nonfinite_policy in ("stop", "skip"),
        f"nonfinite_policy={config.nonfinite_policy!r}: must be 'stop' or 'skip'")
  check(config.dtype in DTYPES, f"dtype={config.dtype!r}: must be one of {DTYPES}")
  check(config.attention_impl in ATTENTION_IMPLS,
        f"attention_impl={config.attention_impl!r}: must be one of {ATTENTION_IMPLS}")
  if config.attention_impl in ("xla", "cudnn"):
    check(config.attention_dropout_rate == 0.0,
          f"attention_dropout_rate={config.attention_dropout_rate} needs attention_impl='naive' (the fused "
          f"attention_impl={config.attention_impl!r} has no dropout on attention weights): set one of the two")
    if config.num_heads >= 1:
      d_k, d_v = head_dims(config)
      check(d_k == d_v, f"attention_impl={config.attention_impl!r} needs d_k == d_v (got {d_k} and {d_v}): "
            "use attention_impl='naive' or equal head sizes")
      check(config.attention_impl != "cudnn" or (d_k % 8 == 0 and d_k <= 128),
            f"attention_impl='cudnn' needs a head size (d_k) that is a multiple of 8 and at most 128, got {d_k}")
  check(config.attention_impl != "cudnn" or not config.pack_training_rows,
        "attention_impl='cudnn' cannot mask packed rows (JAX's cuDNN attention takes sequence lengths, not segment "
        "ids): use pack_training_rows=False (bucketed batches; real_tokens_per_batch and train_bucket_count keep "
        "their padding low) or attention_impl='xla'")
  check(config.attention_impl != "cudnn" or config.dtype == "bfloat16",
        f"attention_impl='cudnn' needs dtype='bfloat16' (cuDNN's fused attention has no float32 kernel), got "
        f"dtype={config.dtype!r}")
  check(config.sentencepiece_model_type in ("unigram", "bpe"),
        f"sentencepiece_model_type={config.sentencepiece_model_type!r}: must be 'unigram' or 'bpe'")
  _check_text_preprocessing(config, check)
  for key in ("num_layers", "d_model", "d_ff", "num_heads", "vocab_size", "num_train_steps", "warmup_steps",
              "beam_size", "max_decode_length", "decode_batch_size", "tokens_per_batch", "log_every_steps",
              "checkpoint_every_steps", "max_checkpoints_to_keep", "max_position", "grad_accum_steps",
              "pack_open_rows"):
    check(config[key] >= 1, f"{key}={config[key]}: must be >= 1")
  check(config.num_test_sentences >= -1, f"num_test_sentences={config.num_test_sentences}: must be >= -1 (0 = the "
        "whole test split, -1 = no test decoding)")
  check(1 <= config.test_average_last <= config.max_checkpoints_to_keep,
        f"test_average_last={config.test_average_last}: must be in [1, max_checkpoints_to_keep="
        f"{config.max_checkpoints_to_keep}] (the average reads checkpoints the run keeps)")
  for key in ("dropout_rate", "attention_dropout_rate", "relu_dropout_rate", "label_smoothing"):
    check(0.0 <= config[key] < 1.0, f"{key}={config[key]}: must be in [0, 1)")
  check(config.tokenizer_train_sentences > 100, f"tokenizer_train_sentences={config.tokenizer_train_sentences}: "
        "must be > 100 (SentencePiece refuses smaller samples)")
  check(config.published_metric in PUBLISHED_METRICS, f"published_metric={config.published_metric!r}: must be "
        f"one of {PUBLISHED_METRICS}")
  check(config.published_metric != "protocol_bleu" or config.published_bleu == 0 or any(
      config[key] is True for key in ("moses_normalize_punctuation", "lowercase_text", "moses_tokenize")),
        "published_metric='protocol_bleu' scores preprocessed text, but no text preprocessing key is on: turn on "
        "the publication's (lowercase_text, moses_tokenize, ...) or compare with 'sacrebleu'")
  check(config.peer_timeout_seconds > 0, f"peer_timeout_seconds={config.peer_timeout_seconds}: must be > 0")
  check(config.eval_every_steps >= 0, f"eval_every_steps={config.eval_every_steps}: must be >= 0 (0 = off)")
  for key, instead in (("eval_every_epochs", "eval_every_steps"), ("checkpoint_every_epochs",
                                                                   "checkpoint_every_steps")):
    check(config[key] >= 0, f"{key}={config[key]}: must be >= 0 (0 = use {instead})")
  check(config.num_dev_bleu_sentences >= 0, f"num_dev_bleu_sentences={config.num_dev_bleu_sentences}: must be >= 0 "
        "(0 = dev loss only)")
  check(config.early_stopping_patience >= 0, f"early_stopping_patience={config.early_stopping_patience}: must be "
        ">= 0 (0 = no early stopping)")
  check(config.early_stopping_patience == 0 or config.eval_every_steps > 0 or config.eval_every_epochs > 0,
        f"early_stopping_patience={config.early_stopping_patience} counts dev evaluations, but there are none "
        "(eval_every_steps=0 and eval_every_epochs=0): set one of them, or early_stopping_patience=0")
  check(config.profile_start_step == 0 or (config.profile_num_steps >= 1 and 1 <= config.profile_start_step
                                           <= config.num_train_steps - config.profile_num_steps),
        f"profile_start_step={config.profile_start_step}, profile_num_steps={config.profile_num_steps}: the traced "
        f"steps must lie after the first (compiling) step and within num_train_steps={config.num_train_steps} "
        "(0 = no profile)")
  check(0 <= config.learning_rate_cooldown_steps <= config.num_train_steps,
        f"learning_rate_cooldown_steps={config.learning_rate_cooldown_steps}: must be in [0, num_train_steps="
        f"{config.num_train_steps}] (0 = no cooldown)")
  check(config.learning_rate_scale > 0, f"learning_rate_scale={config.learning_rate_scale}: must be > 0")
  check(config.length_penalty_alpha >= 0, f"length_penalty_alpha={config.length_penalty_alpha}: must be >= 0 (beam "
        "search stops once no live hypothesis can win, which holds only for a penalty that grows with the length)")
  check(config.length_penalty_form in LENGTH_PENALTY_FORMS, f"length_penalty_form={config.length_penalty_form!r}: "
        f"must be one of {LENGTH_PENALTY_FORMS} ('gnmt' = ((5 + n) / 6)^alpha, 'length' = n^alpha)")
  check(config.d_k >= 0 and config.d_v >= 0, "d_k / d_v must be >= 0 (0 = d_model // num_heads)")
  if config.num_heads >= 1 and (config.d_k == 0 or config.d_v == 0):
    check(config.d_model % config.num_heads == 0,
          f"d_model={config.d_model} is not divisible by num_heads={config.num_heads}: change one of them, "
          "or set d_k and d_v explicitly")
  check(config.real_tokens_per_batch >= 0, f"real_tokens_per_batch={config.real_tokens_per_batch}: must be >= 0 "
        "(0 = size batches by tokens_per_batch)")
  check(0 <= config.train_bucket_count <= MAX_TRAIN_BUCKETS, f"train_bucket_count={config.train_bucket_count}: "
        f"must be in [0, {MAX_TRAIN_BUCKETS}] (one compile per bucket; 0 = bucket_lengths)")
  lengths = tuple(config.bucket_lengths)
  check(len(lengths) > 0 and list(lengths) == sorted(set(lengths)) and lengths[0] >= 2,
        f"bucket_lengths={lengths}: must be a non-empty increasing sequence of lengths >= 2")
  if lengths:
    longest = max(config.max_source_length, config.max_target_length)
    check(longest <= lengths[-1], f"max_source_length/max_target_length={longest} exceeds the longest bucket "
          f"{lengths[-1]}: add a longer bucket_lengths entry or lower the maximum")
    check(config.tokens_per_batch >= lengths[-1], f"tokens_per_batch={config.tokens_per_batch} is smaller than "
          f"the longest bucket {lengths[-1]}: not even one row fits")
    check(lengths[-1] <= config.max_position, f"bucket length {lengths[-1]} exceeds max_position="
          f"{config.max_position}: raise max_position")
  check(config.max_decode_length <= config.max_position,
        f"max_decode_length={config.max_decode_length} exceeds max_position={config.max_position}")
  if problems:
    raise ConfigError("Invalid config:\n  - " + "\n  - ".join(problems))
