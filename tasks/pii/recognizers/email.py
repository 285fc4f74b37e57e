"""Email address (no public-suffix lookup: tldextract would try the network)."""

from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer


class TgEmailRecognizer(PatternRecognizer):
    ENTITY = "EMAIL_ADDRESS"
    PATTERNS: ClassVar[list[Pattern]] = [
        # the local part may hold any letters ("théo.06@web.de"); the domain as registered
        Pattern("email", r"(?<![\w.%+'-])[\w.%+'-]+@[A-Z0-9-]+(?:\.[A-Z0-9-]+)*\.[A-Z]{2,24}\b", 0.9),
    ]
    CONTEXT: ClassVar[list[str]] = ["email", "e-mail", "mail"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)
