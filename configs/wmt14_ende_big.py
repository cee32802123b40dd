"""Transformer-big on WMT14 EN->DE with the paper's hyperparameters (Vaswani et al. 2017, Table 3 'big').

  python -m transformer_jax.main --config=configs/wmt14_ende_big.py --workdir=runs/wmt14_ende_big

The data, vocabulary, batch and schedule are EN-DE base's (configs/wmt14_ende_base.py); the model is bigger,
trains 3x longer and averages the last 20 checkpoints.
"""

from transformer_jax import config_base

wmt14_ende_base = config_base.sibling_config(__file__, "wmt14_ende_base")


def get_config(arg: str | None = None):
  config = wmt14_ende_base.get_config(arg)
  config.d_model = 1024
  config.d_ff = 4096
  config.num_heads = 16
  config.dropout_rate = 0.3  # 0.3 for EN-DE (0.1 for EN-FR).
  config.num_train_steps = 300_000
  config.checkpoint_every_steps = 600  # ~every 10 min at the paper's 1.0 s/step.
  # The final test decodes the mean of the last 20 checkpoints, as the paper does for big; all 20 are kept.
  config.max_checkpoints_to_keep = 20
  config.test_average_last = 20
  config.published_bleu = 28.4  # the paper's Table 2, Transformer (big), newstest2014 EN-DE
  config.published_metric = "tokenized_bleu"
  config.published_in = "Vaswani et al. 2017, Table 2: Transformer (big), EN-DE newstest2014, tokenized BLEU"
  return config
