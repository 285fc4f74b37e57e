"""Firm-specific references (policy, claim, customer numbers) declared in the config, one per entry."""

from presidio_analyzer import Pattern, PatternRecognizer


def reference_recognizer(entity: str, pattern: str, context: list[str], score: float) -> PatternRecognizer:
    """A pattern recognizer for one ``pii.references`` entry."""
    return PatternRecognizer(
        supported_entity=entity,
        name=f"Reference_{entity}",
        patterns=[Pattern(entity.lower(), pattern, score)],
        context=list(context),
    )
