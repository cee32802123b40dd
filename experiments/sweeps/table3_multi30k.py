"""Table 3 of Vaswani et al. 2017 on Multi30k EN-DE, scaled down from the tuned CPU base the way the paper varies its
base, at one fixed step budget per run (dev = val, 1014 sentences; beam 4, alpha 0.6, no checkpoint averaging).

  python -m transformer_jax.sweep experiments/sweeps/table3_multi30k.py --root=runs/table3_multi30k \
      --set multi30k_dir=DIR
  python -m transformer_jax.sweep experiments/sweeps/table3_multi30k.py --root=runs/table3_multi30k \
      --set multi30k_dir=DIR --group=A          # one row group

The base is configs/multi30k_ende.py (cpu setting). Scaling, paper base -> ours: heads (A) take the paper's values
1 / 4 / 16 / 32 with d_k = d_v = d_model / h; smaller keys (B) are 1/4 and 1/2 of the base d_k; layers (C) are the
paper's 2 / 4 / 8 of 6 applied to our N (rounded, at least 1); d_model and d_ff are halved and doubled (d_k = d_v =
d_model / h); dropout and label smoothing (D) take the paper's values; (E) learned positions. The paper's dev
(newstest2013) perplexity and BLEU sit beside ours ("reference ..." columns): compare trends, not numbers, across
datasets.
"""

from configs import multi30k_ende
from transformer_jax.sweep import Sweep, point

BASE = multi30k_ende.get_config()
# Steps per run, the same for every row: what fits the 18 runs into about 75 minutes as two one-core workers
# (about 7 minutes a run: 300 steps at ~0.9 steps/s on one core, plus start-up and the dev decoding).
STEPS = 300
D, H, N, FF = BASE.d_model, BASE.num_heads, BASE.num_layers, BASE.d_ff
D_K = D // H


def paper(perplexity: float, bleu: float) -> dict:
  return {"dev/perplexity": perplexity, "dev/bleu": bleu}


def layers(paper_layers: int) -> int:
  return max(1, round(N * paper_layers / 6))


def get_sweep() -> Sweep:
  return Sweep(
      config="configs/multi30k_ende.py",
      description=f"Table 3 on Multi30k EN-DE: base N={N}, d_model={D}, d_ff={FF}, h={H}, {STEPS} steps per run.",
      metric="dev/bleu",
      # The paper's schedule, no cooldown: the runs in experiments/results/table3_multi30k/ were measured so.
      overrides=dict(num_train_steps=STEPS, max_train_seconds=0.0, learning_rate_cooldown_steps=0,
                     eval_every_steps=STEPS, num_test_sentences=-1,
                     checkpoint_every_steps=STEPS, num_dev_bleu_sentences=1014),
      groups={
          "base": [point("base", paper(4.92, 25.8))],
          "A": [point(f"A-h{h}", ref, num_heads=h, d_k=D // h, d_v=D // h)
                for h, ref in ((1, paper(5.29, 24.9)), (4, paper(5.00, 25.5)), (16, paper(4.91, 25.8)),
                               (32, paper(5.01, 25.4))) if h != H],
          "B": [point(f"B-dk{D_K // 4}", paper(5.16, 25.1), d_k=D_K // 4, d_v=D_K),
                point(f"B-dk{D_K // 2}", paper(5.01, 25.4), d_k=D_K // 2, d_v=D_K)],
          "C": [point(f"C-N{layers(2)}", paper(6.11, 23.7), num_layers=layers(2)),
                point(f"C-N{layers(4)}", paper(5.19, 25.3), num_layers=layers(4)),
                point(f"C-N{layers(8)}", paper(4.88, 25.5), num_layers=layers(8)),
                point(f"C-d{D // 2}", paper(5.75, 24.5), d_model=D // 2, d_k=D // 2 // H, d_v=D // 2 // H),
                point(f"C-d{D * 2}", paper(4.66, 26.0), d_model=D * 2, d_k=D * 2 // H, d_v=D * 2 // H),
                point(f"C-ff{FF // 2}", paper(5.12, 25.4), d_ff=FF // 2),
                point(f"C-ff{FF * 2}", paper(4.75, 26.2), d_ff=FF * 2)],
          "D": [point("D-drop0.0", paper(5.77, 24.6), dropout_rate=0.0),
                point("D-drop0.2", paper(4.95, 25.5), dropout_rate=0.2),
                point("D-ls0.0", paper(4.67, 25.3), label_smoothing=0.0),
                point("D-ls0.2", paper(5.47, 25.7), label_smoothing=0.2)],
          "E": [point("E-learned", paper(4.92, 25.7), positional_encoding="learned")],
      })
