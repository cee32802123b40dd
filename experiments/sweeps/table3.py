"""Table 3 of Vaswani et al. 2017: variations on Transformer-base, on WMT14 EN-DE, scored on newstest2013 (dev).

  python -m transformer_jax.sweep experiments/sweeps/table3.py --root=runs/table3                # every row
  python -m transformer_jax.sweep experiments/sweeps/table3.py --root=runs/table3 --group=A      # one row group
  python -m transformer_jax.sweep experiments/sweeps/table3.py --root=runs/table3 --print_commands  # for a cluster
  python -m transformer_jax.sweep experiments/sweeps/table3.py --parameter_counts                # no training

Each run is the base config (configs/wmt14_ende_base.py: 100k steps, the paper's hyperparameters) with that row's
changes; the big row uses configs/wmt14_ende_big.py (300k steps). The paper's dev perplexity, dev BLEU (beam search,
no checkpoint averaging) and parameter counts sit beside ours in results.md ("reference ..." columns). Its
perplexities are per word-piece of its own 37k BPE vocabulary, ours per SentencePiece piece of ours: comparable in
trend, not digit for digit. Parameter counts: docs/table3.md.
"""

from transformer_jax.sweep import Sweep, point


def paper(perplexity: float, bleu: float, parameters_millions: float | None = None) -> dict:
  reference = {"dev/perplexity": perplexity, "dev/bleu": bleu}
  if parameters_millions is not None:
    reference["parameters"] = int(parameters_millions * 1e6)
  return reference


def get_sweep() -> Sweep:
  return Sweep(
      config="configs/wmt14_ende_base.py",
      description="Table 3 of Attention Is All You Need: rows A-E and big, on WMT14 EN-DE (dev = newstest2013).",
      metric="dev/bleu",
      overrides={},
      groups={
          "base": [point("base", paper(4.92, 25.8, 65))],
          # (A) heads with d_k = d_v = d_model / h: the same computation, split differently.
          "A": [point("A-h1", paper(5.29, 24.9), num_heads=1, d_k=512, d_v=512),
                point("A-h4", paper(5.00, 25.5), num_heads=4, d_k=128, d_v=128),
                point("A-h16", paper(4.91, 25.8), num_heads=16, d_k=32, d_v=32),
                point("A-h32", paper(5.01, 25.4), num_heads=32, d_k=16, d_v=16)],
          # (B) smaller attention keys only (d_v stays 64).
          "B": [point("B-dk16", paper(5.16, 25.1, 58), d_k=16),
                point("B-dk32", paper(5.01, 25.4, 60), d_k=32)],
          # (C) size: layers, d_model (with d_k = d_v = d_model / 8), d_ff.
          "C": [point("C-N2", paper(6.11, 23.7, 36), num_layers=2),
                point("C-N4", paper(5.19, 25.3, 50), num_layers=4),
                point("C-N8", paper(4.88, 25.5, 80), num_layers=8),
                point("C-d256", paper(5.75, 24.5, 28), d_model=256, d_k=32, d_v=32),
                point("C-d1024", paper(4.66, 26.0, 168), d_model=1024, d_k=128, d_v=128),
                point("C-ff1024", paper(5.12, 25.4, 53), d_ff=1024),
                point("C-ff4096", paper(4.75, 26.2, 90), d_ff=4096)],
          # (D) regularisation.
          "D": [point("D-drop0.0", paper(5.77, 24.6), dropout_rate=0.0),
                point("D-drop0.2", paper(4.95, 25.5), dropout_rate=0.2),
                point("D-ls0.0", paper(4.67, 25.3), label_smoothing=0.0),
                point("D-ls0.2", paper(5.47, 25.7), label_smoothing=0.2)],
          # (E) learned positional embeddings instead of sinusoids.
          "E": [point("E-learned", paper(4.92, 25.7), positional_encoding="learned")],
          "big": [point("big", paper(4.33, 26.4, 213), config="configs/wmt14_ende_big.py")],
      })
