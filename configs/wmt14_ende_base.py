"""Transformer-base on WMT14 EN->DE with the paper's hyperparameters (Vaswani et al. 2017, Table 3 'base').

  python -m transformer_jax.main --config=configs/wmt14_ende_base.py --workdir=runs/wmt14_ende_base

  python -m transformer_jax.main --config=configs/wmt14_ende_base.py:hf --workdir=runs/wmt14_ende_base

The first form reads tfds' wmt14_translate/de-en, the second the same corpus and splits (newstest2013 dev,
newstest2014 test) from the Hugging Face Hub's copy, wmt/wmt14 de-en; either is downloaded on first use. The first
run trains the shared vocabulary on a 1M-sentence sample of the training text and caches the token ids in the
workdir; resumes reuse both. `python -m transformer_jax.data.prepare` with the same flags does that preparation
alone, once, for a cluster whose hosts should only read it.
"""

from transformer_jax import config_base


def get_config(arg: str | None = None):
  config = config_base.base_config()  # The defaults are the paper's base model.
  config.dataset = "wmt14_translate/de-en"
  config.source_lang, config.target_lang = "en", "de"  # EN->DE (tfds lists the pair as de-en)
  config.vocab_size = 37_000
  config.sentencepiece_model_type = "bpe"  # the paper: byte-pair encoding, ~37k shared source-target tokens
  config.real_tokens_per_batch = 25_000  # real (non-padding) tokens per step and side, as the paper counts
  # Pairs packed into rows of 256 tokens, 8 rows filled at once: one shape, little padding (docs/data_pipeline.md).
  # Packed rows need attention_impl "naive" or "xla"; for "cudnn", add --config.pack_training_rows=False: one pair
  # per row in 16 buckets fitted to the training lengths.
  config.pack_training_rows = True
  config.pack_open_rows = 8
  config.train_bucket_count = 16
  config.num_train_steps = 100_000
  config.warmup_steps = 4000
  config.dropout_rate = 0.1
  config.label_smoothing = 0.1
  config.beam_size = 4
  config.length_penalty_alpha = 0.6
  config.checkpoint_every_steps = 2000  # ~every 13 min at the paper's 0.4 s/step (the paper: every 10 min).
  # The final test decodes the mean of the last 5 checkpoints, as the paper does (section 6.1); all 5 are kept.
  config.max_checkpoints_to_keep = 5
  config.test_average_last = 5
  config.test_score_final_step = False  # newstest2014 is decoded once, with the average
  config.published_bleu = 27.3  # the paper's Table 2, Transformer (base), newstest2014 EN-DE
  config.published_metric = "tokenized_bleu"
  config.published_in = "Vaswani et al. 2017, Table 2: Transformer (base), EN-DE newstest2014, tokenized BLEU"
  return config_base.with_data_source(config, arg)  # ":hf": the Hugging Face Hub's copy, wmt/wmt14 de-en
