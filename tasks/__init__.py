"""tunegate's stages, one package each, and the small common layer they share.

Stages, in pipeline order: ``ingest`` (read + quality gate), ``pii`` (scrub), ``train`` (split +
torchrun fine-tuning), ``evaluate``, ``registry`` (MLflow versions, promotion, model card), ``monitor``
(drift, prediction store, retrain decision, events); ``predict`` loads a trained model to score texts.

Common layer: ``config`` (the YAML config, one model per stage), ``errors`` (named errors),
``refs`` (the small references tasks pass to each other). Stages never import ``flows`` or
``deployments``; flows compose the stages' tasks.
"""
