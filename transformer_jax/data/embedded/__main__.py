"""`python -m transformer_jax.data.embedded`: sample pairs, the lexicon sizes and the statistics of the corpus."""

from transformer_jax import cli
from transformer_jax.data.embedded import generator

if __name__ == "__main__":
  generator.define_flags()
  cli.run(generator.main)
