"""Transformer-big on WMT14 EN->DE with the paper's hyperparameters (Vaswani et al. 2017, Table 3 'big').

  python -m transformer_jax.main --config=configs/wmt14_ende_big.py --workdir=runs/wmt14_ende_big

The first run trains the shared vocabulary on a 1M-sentence sample of the training text and caches the token ids
in the workdir (tfds must have wmt14_translate/de-en prepared, or internet to download it); resumes reuse both.
"""

from transformer_jax import config_base


def get_config(arg: str | None = None):
  del arg
  config = config_base.base_config()
  config.dataset = "wmt14_translate/de-en"
  config.source_lang, config.target_lang = "en", "de"  # EN->DE (tfds lists the pair as de-en)
  config.vocab_size = 37_000
  config.sentencepiece_model_type = "bpe"  # the paper: byte-pair encoding, ~37k shared source-target tokens
  config.d_model = 1024
  config.d_ff = 4096
  config.num_heads = 16
  config.dropout_rate = 0.3  # 0.3 for EN-DE (0.1 for EN-FR).
  config.label_smoothing = 0.1
  config.real_tokens_per_batch = 25_000  # real (non-padding) tokens per step and side, as the paper counts
  config.train_bucket_count = 16  # padded lengths fitted to the training lengths: under 10% target padding
  config.num_train_steps = 300_000
  config.warmup_steps = 4000
  config.beam_size = 4
  config.length_penalty_alpha = 0.6
  config.checkpoint_every_steps = 600  # ~every 10 min at the paper's 1.0 s/step.
  config.max_checkpoints_to_keep = 20  # the paper averages the last 20.
  return config
