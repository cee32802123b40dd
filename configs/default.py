"""A small Transformer on the embedded EN->DE corpus: trains, translates and scores on 2 CPU cores, no download.

  python -m transformer_jax.main --config=configs/default.py --workdir=runs/demo

Same architecture as the paper (post-norm, sinusoidal positions, shared embeddings, label smoothing 0.1, Adam
0.9/0.98/1e-9 with inverse-square-root warmup, beam 4 with alpha 0.6), scaled down to train in about 7 minutes on
2 CPU cores.
"""

from transformer_jax import config_base


def get_config(arg: str | None = None):
  del arg
  config = config_base.base_config()
  config.vocab_size = 1200  # near word level: the corpus supports at most ~1680 pieces
  config.tokenizer_train_sentences = 100_000
  config.max_source_length = 96
  config.max_target_length = 96
  config.bucket_lengths = (16, 24, 32, 48, 64, 96)  # dev-loss batches; packed training rows are 96 long
  # Packed rows learn faster per step than length buckets here and compile once (experiments/embedded_bleu_curve.md).
  config.pack_training_rows = True
  config.tokens_per_batch = 2048
  config.num_layers = 3
  config.d_model = 128
  config.d_ff = 512
  config.num_heads = 4
  # Under half an epoch of the 200k pairs: nothing to overfit yet, and dropout only slows learning.
  config.dropout_rate = 0.0
  config.warmup_steps = 400
  config.learning_rate_scale = 1.0  # 2.0 stalls (experiments/embedded_bleu_curve.md)
  # A step budget, not a time budget, so the demo ends at the same model on any machine.
  config.num_train_steps = 1800
  config.max_train_seconds = 0.0
  config.max_position = 256
  config.max_decode_length = 160
  # 32 sentences a beam-search batch (16 per core): the demo's test set decodes in 4.2-4.3 s on 2 cores, against
  # 5.3-5.4 s for 64 and 6.5 s for 128, with the same translations (docs/benchmarks.md).
  config.decode_batch_size = 32
  config.log_every_steps = 100
  config.eval_every_steps = 600
  config.num_dev_bleu_sentences = 200
  config.checkpoint_every_steps = 600
  config.max_checkpoints_to_keep = 3
  return config
