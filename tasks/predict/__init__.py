"""Scoring texts with a model folder the recipe wrote, for evaluation, batch prediction and monitoring.

- ``classify``: load a classifier folder, predict labels and confidences in batches.
- ``generate``: load a causal-LM folder, score responses and generate.
- ``batch``: score a whole dataset and write id, prediction, confidence.
- ``store``: the prediction store (scrubbed text, prediction, confidence, embedding), partitioned by day.
"""
