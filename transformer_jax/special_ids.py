"""The token ids with a fixed meaning in every vocabulary (tokenizer.py trains SentencePiece to use them).

Kept apart from tokenizer.py so the model and decoder, which need EOS and PAD, import no SentencePiece.
"""

PAD_ID = 0  # the model masks padding by comparing ids with 0
EOS_ID = 1  # ends every sentence and doubles as the decoder's start symbol
UNK_ID = 2
