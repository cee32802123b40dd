"""A small Transformer on the embedded EN->DE corpus: trains, translates and scores on 2 CPU cores, no download.

  python -m transformer_jax.main --config=configs/default.py --workdir=runs/demo

Same architecture as the paper (post-norm, sinusoidal positions, shared embeddings, label smoothing 0.1, Adam
0.9/0.98/1e-9 with inverse-square-root warmup, beam 4 with alpha 0.6), scaled down to fit the CPU budget.
"""

from transformer_jax import config_base


def get_config(arg: str | None = None):
  del arg
  config = config_base.base_config()
  config.vocab_size = 1200
  config.max_source_length = 96
  config.max_target_length = 96
  config.bucket_lengths = (16, 24, 32, 48, 64, 96)
  config.tokens_per_batch = 4096
  config.num_layers = 3
  config.d_model = 256
  config.d_ff = 1024
  config.num_heads = 4
  config.dropout_rate = 0.1
  config.warmup_steps = 1000
  config.learning_rate_scale = 2.0
  config.num_train_steps = 4000
  config.max_train_seconds = 600.0  # The demo's budget: at most 10 minutes of training.
  config.max_position = 256
  config.max_decode_length = 160
  config.log_every_steps = 100
  config.eval_every_steps = 1000
  config.num_dev_bleu_sentences = 200
  config.checkpoint_every_steps = 500
  config.max_checkpoints_to_keep = 3
  return config
