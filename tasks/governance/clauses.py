"""The clauses a version's technical file answers, as data: one row per clause, in the regulator's own order.

Each ``Clause`` names its block (``annex4``, ``art10``, ``art12``, ``art15``, ``ss1-23``, ``edpb``), what it
asks, how tunegate answers it, the pack files that answer it (``evidence``: all must be in the pack), the
``governance:`` fields that answer it (``declared``: all must be filled), and a ``check`` on the records where
a file's presence is not enough (the memorisation result must pass its limit). ``firm``: a clause only the
firm can fill (harmonised standards, the declaration of conformity): ``missing`` and marked as the firm's until
its ``governance:`` field says where the firm's answer is.
``tasks/governance/coverage.py`` assesses a pack against them.
"""

from __future__ import annotations

from dataclasses import dataclass

BLOCKS = {"annex4": "EU AI Act Annex IV (technical documentation)", "art10": "EU AI Act Art. 10(2) (data governance)",
          "art12": "EU AI Act Art. 12 (record-keeping)", "art15": "EU AI Act Art. 15 (accuracy, robustness, "
          "cybersecurity)", "ss1-23": "PRA SS1/23 (model risk management principles)",
          "edpb": "EDPB Opinion 28/2024 (anonymity of AI models)"}

CARD, CONFIG, LINEAGE, QUALITY, PII = ("version/model_card.md", "version/config.json", "version/lineage.json",
                                       "version/quality.json", "version/pii_evidence.json")
EVAL, BASELINE, MEMO, ENVELOPE = ("version/eval/eval.json", "version/eval/baseline_eval.json",
                                  "version/memorisation.json", "version/envelope.json")
TRAIN_CONFIG, METRICS, COMPUTE = "version/model/train_config.json", "version/model/metrics.json", "version/compute.json"
AUDIT, REGISTRY, MONITORING = "audit.json", "registry.json", "monitoring.json"
REVALIDATION = "revalidations/v*.json"  # tunegate revalidate's records of the version (a pattern)


@dataclass(frozen=True)
class Clause:
    id: str
    block: str
    title: str
    how: str  # how tunegate satisfies it
    evidence: tuple[str, ...] = ()
    declared: tuple[str, ...] = ()
    check: str | None = None  # a named check of coverage.CHECKS on the records
    firm: bool = False


CLAUSES: list[Clause] = [
    Clause("annex4-1", "annex4", "General description: intended purpose, provider, versions, forms of use",
           "governance: purpose, users, out-of-scope uses and owner; the model card and config name the version",
           (CARD, CONFIG), ("intended_purpose", "intended_users", "out_of_scope_uses", "owner")),
    Clause("annex4-2", "annex4", "Development: methods, design choices, data, training, validation, compute",
           "lineage (data digests, split, base model, code), training settings and metrics, compute record",
           (LINEAGE, TRAIN_CONFIG, METRICS, QUALITY, PII, COMPUTE), ("data_sources",)),
    Clause("annex4-3", "annex4", "Monitoring, functioning and control: capabilities, limitations, human oversight",
           "test-split evaluation per class; out-of-scope uses; the accountable person and the approvals audited",
           (EVAL, AUDIT), ("out_of_scope_uses", "accountable_person")),
    Clause("annex4-4", "annex4", "Appropriateness of the performance metrics",
           "the promotion policy's primary metric and floors (config) against a TF-IDF baseline on the same split",
           (CONFIG, EVAL, BASELINE)),
    Clause("annex4-5", "annex4", "Risk management system (Art. 9)",
           "the declared risk tier and reason; the gates the candidate passed (quality, PII, memorisation)",
           (QUALITY, PII, MEMO), ("risk_tier", "risk_tier.reason")),
    Clause("annex4-6", "annex4", "Relevant changes through the lifecycle",
           "the change envelope declared and this version's classification against it; promotions in the audit log",
           (ENVELOPE, AUDIT), ("change_envelope",)),
    Clause("annex4-7", "annex4", "Harmonised standards applied, or other solutions adopted",
           "the firm's to fill: which standards (e.g. ISO/IEC 42001, 23894) its conformity assessment relies on",
           (), ("harmonised_standards",), firm=True),
    Clause("annex4-8", "annex4", "EU declaration of conformity (Art. 47)",
           "the firm's to fill: where the provider's signed declaration is kept", (), ("declaration_of_conformity",),
           firm=True),
    Clause("annex4-9", "annex4", "Post-market monitoring plan (Art. 72)",
           "drift monitoring settings (config) and each monitor run of this version; the declared review interval",
           (CONFIG, MONITORING), ("review_interval_days",)),
    Clause("art10-2a", "art10", "(a) relevant design choices", "the pipeline config and lineage", (CONFIG, LINEAGE)),
    Clause("art10-2b", "art10", "(b) data collection processes, origin of data, original purpose of personal data",
           "governance.data_sources: origin, original purpose, lawful basis, retention",
           (LINEAGE,), ("data_sources.origin", "data_sources.original_purpose", "data_sources.lawful_basis")),
    Clause("art10-2c", "art10", "(c) data-preparation operations (labelling, cleaning, enrichment)",
           "quality gate, PII scrub evidence (counts, residual rate, recall estimate), split lineage",
           (QUALITY, PII, LINEAGE)),
    Clause("art10-2d", "art10", "(d) assumptions about what the data measure and represent",
           "governance.data_assumptions", (), ("data_assumptions",)),
    Clause("art10-2e", "art10", "(e) availability, quantity and suitability of the data sets",
           "row and label counts of every split; the quality gate's verdict", (QUALITY, LINEAGE)),
    Clause("art10-2f", "art10", "(f) examination for possible biases", "per-class evaluation and label balance",
           (EVAL, QUALITY)),
    Clause("art10-2g", "art10", "(g) measures to detect, prevent and mitigate biases",
           "no class may regress beyond promotion.max_class_regression (config); class weights recorded",
           (CONFIG, TRAIN_CONFIG)),
    Clause("art10-2h", "art10", "(h) relevant data gaps or shortcomings, and how they are addressed",
           "the quality gate's failed expectations and the PII residual rate", (QUALITY, PII)),
    Clause("art12", "art12", "Automatic recording of events (logs) over the lifetime",
           "the HMAC-chained audit log's entries about this version and the chain's state", (AUDIT, REGISTRY),
           check="audit_intact"),
    Clause("art15-1", "art15", "(1) appropriate accuracy, robustness and cybersecurity", "test-split evaluation",
           (EVAL, BASELINE)),
    Clause("art15-2", "art15", "(2) benchmarks and measurement methodologies", "TF-IDF baseline on the same split",
           (BASELINE, EVAL)),
    Clause("art15-3", "art15", "(3) accuracy levels and metrics declared in the instructions for use",
           "the model card's scores", (CARD, EVAL)),
    Clause("art15-4", "art15", "(4) resilience to errors, faults and feedback loops",
           "the champion stays unless a candidate passes every gate; drift monitoring; rollbacks audited",
           (CONFIG, MONITORING, AUDIT)),
    Clause("art15-5", "art15", "(5) resilience against attacks (poisoning, adversarial, confidentiality)",
           "membership-inference (or canary) test; signed registration of the evidence files", (MEMO, REGISTRY),
           check="memorisation_passed"),
    Clause("ss1-23-1", "ss1-23", "Principle 1: model identification and model risk classification",
           "the registry's entry for the version; the declared risk tier", (REGISTRY,), ("risk_tier", "owner")),
    Clause("ss1-23-2", "ss1-23", "Principle 2: governance, accountability", "owner and accountable person declared",
           (), ("owner", "accountable_person")),
    Clause("ss1-23-3", "ss1-23", "Principle 3: model development, implementation and use",
           "lineage, evaluation, intended purpose", (LINEAGE, EVAL), ("intended_purpose",)),
    Clause("ss1-23-4", "ss1-23", "Principle 4: independent model validation",
           "a passed revalidation record (tunegate revalidate) and the declared review interval", (REVALIDATION,),
           ("review_interval_days",), check="revalidation_passed"),
    Clause("ss1-23-5", "ss1-23", "Principle 5: model risk mitigants",
           "promotion gates (config), out-of-scope uses and the change envelope", (CONFIG,),
           ("out_of_scope_uses", "change_envelope")),
    Clause("edpb-extraction", "edpb", "Personal data cannot be extracted from the model (direct extraction)",
           "training text scrubbed of identifiers; a classifier returns labels only; a causal LM's canaries are not "
           "extracted", (PII, MEMO), check="extraction_insignificant"),
    Clause("edpb-membership", "edpb", "Queries cannot tell whether a person's data was in training (membership)",
           "membership-inference AUC (or canary exposure) within the promotion limit", (MEMO,),
           check="memorisation_passed"),
]
