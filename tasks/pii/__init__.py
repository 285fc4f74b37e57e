"""Stage 2, PII scrubbing: raw text in, scrubbed text and evidence out; raw text goes no further.

In: a canonical dataset (``DatasetRef``) and ``PiiConfig``. Out: the scrubbed dataset, the spans found
(offsets and types, never values), the subject index (keyed hashes, never values) and ``PiiEvidence``
(counts, residual scan, estimated recall).

- ``task``: the Prefect boundary (``scrub_pii``).
- ``engine``: the ``Scrubber``: spaCy NER + Presidio + ``recognizers``; ``names`` and ``name_lists``
  decide which entities are people, ``corpus`` overrules a PERSON label the documents read together
  mostly give to something else; ``ops``: spans, operators (placeholder, pseudonym, mask) and keys.
- ``stream``: scrub a whole file in windows on all cores; ``files``: read and write those windows.
- ``shards``: the same scrub as shards of whole windows on a Dask cluster (``pii.runner: dask``), merged in order
  into the same files.
- ``residual``: an independent scan of the output for identifiers that survived (the gate).
- ``estimate``: recall on the user's own text, from seeded synthetic identifiers.
- ``score``: scoring against ground truth, and the evidence record.
- ``formats``: format checks shared by the recognizers and the residual scan.
- ``subjects``: the subject index beside each scrubbed dataset, and finding a person's hashes in it.
"""

import importlib.abc as _abc
import sys as _sys


class _NoHfPipelineForPresidio(_abc.MetaPathFinder):
    """Importing ``presidio_analyzer`` loads its Hugging Face NER engine and recognizer, and both import
    ``transformers.pipelines`` (torch, image and audio processors): seconds in every process that scrubs, for
    parts tunegate never uses (it runs Presidio on spaCy). While Presidio's package initialises, its ``from
    transformers import pipeline`` finds nothing, which Presidio treats as transformers not installed. Every
    other import of ``transformers.pipelines``, before or after, is untouched."""

    def find_spec(self, name, path=None, target=None):
        if name == "transformers.pipelines":
            presidio = _sys.modules.get("presidio_analyzer")
            if presidio is not None and getattr(getattr(presidio, "__spec__", None), "_initializing", False):
                raise ImportError("transformers.pipelines is not loaded for Presidio's Hugging Face parts")
        return None


if not any(isinstance(f, _NoHfPipelineForPresidio) for f in _sys.meta_path):
    _sys.meta_path.insert(0, _NoHfPipelineForPresidio())
