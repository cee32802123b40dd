"""Transformer-base on WMT14 EN->FR (Vaswani et al. 2017, Table 2: 38.1 BLEU on newstest2014).

  python -m transformer_jax.main --config=configs/wmt14_enfr_base.py --workdir=runs/wmt14_enfr_base

Same model and schedule as EN-DE base; the data is the 36M-pair WMT14 EN-FR corpus with a 32000-piece vocabulary.
"""

from transformer_jax import config_base

wmt14_ende_base = config_base.sibling_config(__file__, "wmt14_ende_base")


def get_config(arg: str | None = None):
  config = wmt14_ende_base.get_config()
  config.dataset = "wmt14_translate/fr-en"
  config.source_lang, config.target_lang = "en", "fr"  # EN->FR (tfds lists the pair as fr-en)
  config.vocab_size = 32_000
  # The paper used a word-piece vocabulary here; SentencePiece's unigram model is the likelihood-based analogue.
  config.sentencepiece_model_type = "unigram"
  config.published_bleu = 38.1  # the paper's Table 2, Transformer (base), newstest2014 EN-FR
  config.published_metric = "tokenized_bleu"
  config.published_in = "Vaswani et al. 2017, Table 2: Transformer (base), EN-FR newstest2014, tokenized BLEU"
  return config_base.with_data_source(config, arg)  # ":hf": wmt/wmt14 fr-en
