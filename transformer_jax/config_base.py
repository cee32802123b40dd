"""The one list of configuration keys, their types and defaults, and the checks run before anything compiles.

Every file in configs/ starts from `base_config()` and overrides values, so a key that is not defined here does not
exist: ml_collections refuses unknown keys and wrong types on the command line (`--config.d_modl=...` fails naming
the key), and `validate` refuses values and combinations that could not work.
"""

from __future__ import annotations

import ml_collections

POSITIONAL_ENCODINGS = ("sinusoidal", "learned")
# tfds translation datasets read through the same pipeline; splits train / validation (newstest2013) / test
# (newstest2014 for WMT14). The WMT input pipeline issue adds packing at scale, caching and mock-data tests.
DATASETS = ("embedded_ende", "wmt14_translate/de-en", "wmt14_translate/fr-en", "wmt17_translate/de-en")
DTYPES = ("float32", "bfloat16")
ATTENTION_IMPLS = ("naive", "xla", "cudnn")  # attention.IMPLEMENTATIONS; repeated so configs need no JAX import


def base_config() -> ml_collections.ConfigDict:
  """The paper's Transformer-base (Vaswani et al. 2017, Table 3 row 'base') on the embedded corpus."""
  c = ml_collections.ConfigDict()

  # ---- Data ----
  c.dataset = "embedded_ende"  # tfds source; the WMT sources arrive with the WMT input pipeline.
  c.source_lang = "en"
  c.target_lang = "de"
  c.tfds_data_dir = ""  # Where tfds keeps prepared datasets; "" = tfds' default (~/tensorflow_datasets).
  c.embedded_seed = 0  # The embedded corpus is generated from this seed; the same seed gives the same corpus.
  c.embedded_num_train = 200_000  # Sentence pairs in the embedded training split.
  c.vocab_size = 37_000  # Shared source/target SentencePiece vocabulary (the paper: ~37k BPE for EN-DE).
  c.sentencepiece_model_type = "unigram"  # "unigram" or "bpe".
  c.tokenizer_train_sentences = 1_000_000  # Sentences sampled (from the whole training text) to train SentencePiece.
  c.max_source_length = 256  # Training pairs with a longer side (in tokens, EOS included) are dropped and counted.
  c.max_target_length = 256
  c.tokens_per_batch = 25_000  # Padded target tokens per global batch (the paper: ~25k source + 25k target).
  c.bucket_lengths = (16, 32, 64, 128, 256)  # Padded lengths a batch may have: one compile per length.
  c.pack_training_rows = False  # Pack several pairs per row of bucket_lengths[-1] tokens instead of bucketing.

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
  # Compute dtype of matmuls and activations. "bfloat16" is mixed precision: parameters, optimiser state, attention
  # softmax, layer-norm statistics and the loss stay float32 (transformer_jax/precision.py).
  c.dtype = "float32"
  # Attention kernel: "naive" (einsums + masked softmax; the reference, and the only one with attention dropout),
  # "xla" or "cudnn" (jax.nn.dot_product_attention; cudnn = fused flash attention on NVIDIA GPUs, bfloat16 only).
  # All give the same results with the same masks; the cached decoder uses "xla" for "cudnn".
  c.attention_impl = "naive"

  # ---- Optimiser (the paper: Adam 0.9/0.98/1e-9, inverse square root with warmup) ----
  c.learning_rate_scale = 1.0  # Multiplies d_model^-0.5 * min(step^-0.5, step * warmup^-1.5); the paper uses 1.
  c.warmup_steps = 4000
  c.adam_b1 = 0.9
  c.adam_b2 = 0.98
  c.adam_eps = 1e-9
  c.grad_clip_norm = 0.0  # 0 disables clipping (the paper clips nothing).
  c.nonfinite_policy = "stop"  # NaN/Inf loss or gradient: "stop" the run naming the step, or "skip" the update.
  c.num_train_steps = 100_000
  c.max_train_seconds = 0.0  # If > 0, stop training (and save) after this much training time; 0 = no limit.

  # ---- Decoding (the paper: beam 4, alpha 0.6, max length = source length + 50) ----
  c.beam_size = 4
  c.length_penalty_alpha = 0.6
  c.decode_extra_length = 50  # Each output may be this many tokens longer than its source...
  c.max_decode_length = 256  # ...but never longer than this.
  c.decode_batch_size = 64  # Sentences per beam-search batch.
  c.num_test_sentences = 0  # Test sentences decoded at the end; 0 = the whole test split (smoke tests use fewer).

  # ---- Loop, evaluation, checkpoints ----
  c.seed = 0
  c.log_every_steps = 100
  c.eval_every_steps = 1000  # Dev loss and dev BLEU; 0 disables periodic evaluation.
  c.num_dev_bleu_sentences = 500  # Dev sentences beam-decoded for the periodic dev BLEU.
  c.checkpoint_every_steps = 1000
  c.max_checkpoints_to_keep = 5
  c.num_data_shards = -1  # Devices on the mesh's data axis; -1 = all devices.
  return c


def resolved(value: int, default: int) -> int:
  return value if value > 0 else default


def head_dims(config) -> tuple[int, int]:
  """(d_k, d_v) with the paper's default d_model // h filled in."""
  return (resolved(config.d_k, config.d_model // config.num_heads),
          resolved(config.d_v, config.d_model // config.num_heads))


def validate(config) -> None:
  """Raises ValueError listing every problem, each naming its key, before anything compiles."""
  problems = []

  def check(ok: bool, message: str):
    if not ok:
      problems.append(message)

  check(config.dataset in DATASETS, f"dataset={config.dataset!r}: must be one of {DATASETS}")
  check(config.positional_encoding in POSITIONAL_ENCODINGS,
        f"positional_encoding={config.positional_encoding!r}: must be one of {POSITIONAL_ENCODINGS}")
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
  check(config.attention_impl != "cudnn" or config.dtype == "bfloat16",
        f"attention_impl='cudnn' needs dtype='bfloat16' (cuDNN's fused attention has no float32 kernel), got "
        f"dtype={config.dtype!r}")
  check(config.sentencepiece_model_type in ("unigram", "bpe"),
        f"sentencepiece_model_type={config.sentencepiece_model_type!r}: must be 'unigram' or 'bpe'")
  for key in ("num_layers", "d_model", "d_ff", "num_heads", "vocab_size", "num_train_steps", "warmup_steps",
              "beam_size", "max_decode_length", "decode_batch_size", "tokens_per_batch", "log_every_steps",
              "checkpoint_every_steps", "max_checkpoints_to_keep", "max_position"):
    check(config[key] >= 1, f"{key}={config[key]}: must be >= 1")
  for key in ("dropout_rate", "attention_dropout_rate", "relu_dropout_rate", "label_smoothing"):
    check(0.0 <= config[key] < 1.0, f"{key}={config[key]}: must be in [0, 1)")
  check(config.tokenizer_train_sentences > 100, f"tokenizer_train_sentences={config.tokenizer_train_sentences}: "
        "must be > 100 (SentencePiece refuses smaller samples)")
  check(config.eval_every_steps >= 0, f"eval_every_steps={config.eval_every_steps}: must be >= 0 (0 = off)")
  check(config.learning_rate_scale > 0, f"learning_rate_scale={config.learning_rate_scale}: must be > 0")
  check(config.length_penalty_alpha >= 0, f"length_penalty_alpha={config.length_penalty_alpha}: must be >= 0")
  check(config.d_k >= 0 and config.d_v >= 0, "d_k / d_v must be >= 0 (0 = d_model // num_heads)")
  if config.num_heads >= 1 and (config.d_k == 0 or config.d_v == 0):
    check(config.d_model % config.num_heads == 0,
          f"d_model={config.d_model} is not divisible by num_heads={config.num_heads}: change one of them, "
          "or set d_k and d_v explicitly")
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
    raise ValueError("Invalid config:\n  - " + "\n  - ".join(problems))
