"""Stage 4a, evaluation: a model folder and the recorded test split in, an ``EvalReport`` out.

- ``metrics``: the metric functions and the ``evaluate_model`` task.
"""
