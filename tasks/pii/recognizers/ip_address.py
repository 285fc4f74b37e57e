"""IPv4 and IPv6 addresses, octets validated."""

import ipaddress
from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer


class TgIpAddressRecognizer(PatternRecognizer):
    ENTITY = "IP_ADDRESS"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("ipv4", r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]*\d)", 0.6),
        Pattern("ipv6", r"(?<![\w:])(?:[0-9A-F]{0,4}:){2,7}[0-9A-F]{0,4}(?![\w:])", 0.6),
    ]
    CONTEXT: ClassVar[list[str]] = ["ip", "address", "login", "logged"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)

    def validate_result(self, pattern_text: str) -> bool:
        try:
            ipaddress.ip_address(pattern_text)
        except ValueError:
            return False
        return True
