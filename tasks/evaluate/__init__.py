"""Stage 4a, evaluation: a model folder and the recorded test split in, an ``EvalReport`` out.

- ``metrics``: the metric functions and the ``evaluate_model`` task; per-row outputs are stored beside eval.json.
- ``stats``, ``slices``, ``plots``, ``validate``: intervals, McNemar, slices and pictures from those outputs.
"""
