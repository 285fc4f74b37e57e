"""Stage 5, monitoring: production documents in, a drift report, a retrain decision and an event out.

- ``drift``: the Evidently report of a batch against the champion's reference sample.
- ``descriptors``: text descriptors computed offline for the report.
- ``policy``: whether a drift report calls for retraining (pure).
- ``events``: emit the drift event to Prefect and confirm it was stored.
- ``sampling``: a seeded sample of a batch bigger than monitoring needs, and of a prediction log (read batch by batch).
"""
