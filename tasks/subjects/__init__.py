"""Data subjects' rights (GDPR Art. 15 and 17): where a person's data is, across every stage's stores.

In: the pipeline config and a file of the person's identifiers (``ENTITY: value`` lines, never on a
command line or in a log). Out: ids and counts only: documents of each stored dataset (from the subject
indexes the scrub stage writes), the model versions trained on those datasets and their reference
samples (from the registry's lineage tags), and prediction-store rows.

- ``find``: the access request (``tunegate subject find``).
- ``erase``: the erasure request (``tunegate subject erase``): every store rewritten without the
  subject's documents, the versions trained on them marked and withdrawn from serving, a retrain requested;
  ``erased``: the erasure list every training run applies (``task.drop_erased_documents``); ``stores``:
  every other copy of a model trained on them, searched, deleted, reported and purged after a maximum age;
  ``certificate``: the signed erasure certificate each request writes, and its check.
"""
