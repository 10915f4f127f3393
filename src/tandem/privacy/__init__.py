"""Privacy guard: find personal data and secrets, pseudonymize, restore.

The gateway redacts a request with :meth:`PrivacyGuard.redact_messages`
(or :meth:`PrivacyGuard.redact` for plain texts), sends the redacted texts
upstream, and restores the reply with :meth:`Redaction.restore` or, for a
streamed reply, :meth:`Redaction.restorer`.
"""

# Decides, before any scanner module loads, whether the compiled ones are current.
from tandem.privacy.native import BUILD

# isort: split
from tandem.privacy.guard import PrivacyGuard
from tandem.privacy.ner import NerUnavailable
from tandem.privacy.phones import DEFAULT_PHONE_REGIONS
from tandem.privacy.redaction import Redaction
from tandem.privacy.spans import (
    CREDIT_CARD,
    DEFAULT_ENTITIES,
    EMAIL_ADDRESS,
    IBAN_CODE,
    IP_ADDRESS,
    LOCATION,
    NER_ENTITIES,
    PERSON,
    PHONE_NUMBER,
    SECRET,
    URL,
    US_SSN,
    Span,
)
from tandem.privacy.stream import StreamRestorer

__all__ = [
    "BUILD",
    "CREDIT_CARD",
    "DEFAULT_ENTITIES",
    "DEFAULT_PHONE_REGIONS",
    "EMAIL_ADDRESS",
    "IBAN_CODE",
    "IP_ADDRESS",
    "LOCATION",
    "NER_ENTITIES",
    "PERSON",
    "PHONE_NUMBER",
    "SECRET",
    "URL",
    "US_SSN",
    "NerUnavailable",
    "PrivacyGuard",
    "Redaction",
    "Span",
    "StreamRestorer",
]
