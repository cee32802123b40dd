"""Transformer-big on WMT14 EN->FR (Vaswani et al. 2017, Table 2: 41.8 BLEU on newstest2014).

  python -m transformer_jax.main --config=configs/wmt14_enfr_big.py --workdir=runs/wmt14_enfr_big

Transformer-big as for EN-DE except P_drop = 0.1 instead of 0.3 (the paper, section 6.1).
"""

from transformer_jax import config_base

wmt14_ende_big = config_base.sibling_config(__file__, "wmt14_ende_big")


def get_config(arg: str | None = None):
  config = wmt14_ende_big.get_config()
  config.dataset = "wmt14_translate/fr-en"
  config.source_lang, config.target_lang = "en", "fr"  # EN->FR (tfds lists the pair as fr-en)
  config.vocab_size = 32_000
  config.sentencepiece_model_type = "unigram"  # the paper's word-piece vocabulary; see wmt14_enfr_base.py
  config.dropout_rate = 0.1
  config.published_bleu = 41.8  # the paper's Table 2, Transformer (big), newstest2014 EN-FR
  config.published_metric = "tokenized_bleu"
  config.published_in = "Vaswani et al. 2017, Table 2: Transformer (big), EN-FR newstest2014, tokenized BLEU"
  return config_base.with_data_source(config, arg)  # ":hf": wmt/wmt14 fr-en
