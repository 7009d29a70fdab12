"""The training-throughput benchmark's parts; `benchmarks/training_throughput.py` runs them.

- `contenders`: what is trained (ours, the keras.io-pattern model, Pythae) and how
  each contender runs its warm-up and timed steps;
- `harness`: the protocol: alternating rounds, the likelihood-evaluation timing,
  the sweep in fresh processes, and the statistics of the rounds;
- `report`: the markdown table and the findings computed from it.

None of them imports TensorFlow or torch when imported: oneDNN's switch and the
thread pools are set by the entry point before TensorFlow starts.
"""
