"""The text-only Transformer-tiny baseline of Wu et al. 2021 on Multi30k EN->DE, reproduced under its own protocol.

  python -m transformer_jax.reproduce --config=configs/multi30k_wu2021_tiny.py --config.multi30k_dir=DIR \
      --workdir=runs/multi30k_wu2021_tiny

Zhiyong Wu, Lingpeng Kong, Wei Bi, Xiang Li, Ben Kao: "Good for Misconceived Reasons: An Empirical Revisiting on the
Need for Visual Context in Multimodal Machine Translation", ACL 2021. Their fairseq fork (LividWo/Revisit-MMT) reports
test2016 BLEU4 = 41.02 for this baseline: lowercased, Moses-tokenized text, beam 5, the last 10 epoch checkpoints
averaged. DIR holds the raw Multi30k files (train/val/test_2016_flickr.{en,de}.gz, as
`python -m transformer_jax.data.multi30k --dir=DIR` downloads them); the preprocessing is ours, and makes the same
tokenized text as their released files on all but one of the 62,028 lines (experiments/multi30k/README.md).

Each value below names where it comes from: "command" is their training / generation command line, "arch" their
fork's transformer_tiny, "fairseq" a default of their fairseq version, "data" their released files. Where the
recipe needs something ours does differently, the comment says so.
"""

from transformer_jax import config_base


def get_config(arg: str | None = None):
  del arg
  config = config_base.base_config()
  # ---- Data and preprocessing ----
  config.dataset = "multi30k"
  config.source_lang, config.target_lang = "en", "de"  # command: --source-lang en --target-lang de
  # data: their files went through Moses' normalize-punctuation.perl, lowercasing and tokenizer.perl (escaped).
  config.moses_normalize_punctuation = True
  config.lowercase_text = True
  config.moses_tokenize = True
  # data: one subword vocabulary for both languages (--joined-dictionary), 10,000 subword-nmt BPE merges learned
  # jointly, whose training text holds 9,708 distinct pieces (+ fairseq's 4 special symbols). Ours: SentencePiece
  # BPE on the same preprocessed text, as wide.
  config.sentencepiece_model_type = "bpe"
  config.vocab_size = 9712
  config.tokenizer_train_sentences = 100_000  # all 58,000 sentences of both sides
  # fairseq keeps pairs up to 1024 tokens; their longest line has 51 BPE pieces, so nothing is dropped at 96.
  config.max_source_length = 96
  config.max_target_length = 96
  config.bucket_lengths = (16, 24, 32, 48, 64, 96)
  # command: --max-tokens 4096 on 2 GPUs: up to 8192 padded positions an update. Ours packs pairs into rows of 96,
  # 8192 positions a batch (less padding, so a little more text an update).
  config.pack_training_rows = True
  config.tokens_per_batch = 8192

  # ---- Model: arch transformer_tiny, command --share-all-embeddings --dropout 0.3 ----
  config.num_layers = 4
  config.d_model = 128
  config.d_ff = 256
  config.num_heads = 4
  config.dropout_rate = 0.3
  config.attention_dropout_rate = 0.0  # fairseq: --attention-dropout 0
  config.relu_dropout_rate = 0.0  # fairseq: --activation-dropout 0
  config.max_position = 256  # sinusoidal (fairseq); covers the 200-token output limit below

  # ---- Optimisation ----
  config.adam_b1, config.adam_b2, config.adam_eps = 0.9, 0.98, 1e-8  # fairseq: Adam betas (0.9, 0.98), eps 1e-8
  config.label_smoothing = 0.1  # command: label_smoothed_cross_entropy, fairseq eps 0.1
  config.grad_clip_norm = 25.0  # fairseq: --clip-norm 25
  # command: --lr 0.005 --warmup-updates 2000, inverse_sqrt: 0.005 * min(step / 2000, sqrt(2000 / step)), which is
  # the paper's schedule d_model^-0.5 * min(step^-0.5, step * warmup^-1.5) times 0.005 * sqrt(2000 * d_model).
  # (fairseq's warmup starts at 1e-7 instead of 0.)
  config.warmup_steps = 2000
  config.learning_rate_scale = 0.005 * (2000 * 128) ** 0.5
  config.num_train_steps = 8000  # command: --max-update 8000

  # ---- Epochs: a checkpoint and a dev loss after each; --patience 10 ----
  config.checkpoint_every_epochs = 1  # fairseq: --save-interval 1
  config.eval_every_epochs = 1  # fairseq: --validate-interval 1 (dev loss; no BLEU during training)
  config.num_dev_bleu_sentences = 0
  config.early_stopping_patience = 10  # command: --patience 10
  config.max_checkpoints_to_keep = 10
  config.test_average_last = 10  # their evaluate.sh: the last 10 epoch checkpoints averaged
  config.test_score_final_step = False  # the protocol decodes test2016 once, with the average
  config.log_every_steps = 61  # about once an epoch

  # ---- Decoding: command --beam 5, fairseq --lenpen 1 (log P / length), --max-len-b 200 ----
  config.beam_size = 5
  config.length_penalty_form = "length"
  config.length_penalty_alpha = 1.0
  config.decode_extra_length = 200
  config.max_decode_length = 200
  config.decode_batch_size = 128  # command: --batch-size 128
  config.num_test_sentences = 0

  # ---- What this reproduces (reproduce.py sets it beside ours) ----
  config.published_bleu = 41.02
  config.published_metric = "protocol_bleu"
  config.published_in = ("Wu et al. 2021, ACL (Good for Misconceived Reasons), text-only Transformer-tiny baseline: "
                         "fairseq BLEU4 on lowercased, Moses-tokenized test2016")
  return config
