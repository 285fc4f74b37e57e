"""UK bank account number: eight digits, only with banking context (alone it is any number)."""

from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer


class TgUkBankAccountRecognizer(PatternRecognizer):
    LOCALE = "uk"
    ENTITY = "UK_BANK_ACCOUNT"
    PATTERNS: ClassVar[list[Pattern]] = [Pattern("account", r"(?<![\d-])\d{8}(?![\d-])", 0.1)]
    CONTEXT: ClassVar[list[str]] = ["account", "acct", "a/c", "bank", "sort", "refund", "settlement", "pay"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)
