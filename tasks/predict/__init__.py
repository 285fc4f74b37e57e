"""Scoring texts with a model folder the recipe wrote, for evaluation, batch prediction and monitoring.

- ``classify``: load a classifier folder, predict labels and confidences in batches.
- ``generate``: load a causal-LM folder, score responses and generate.
"""
