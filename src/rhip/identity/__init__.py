"""Identity rules for the platform: ID numbers (GB 11643), other identity documents, identifier systems,
the resident health card and its signed QR code. See README.md in this folder for standards and decisions.
"""

from __future__ import annotations

from rhip.identity.documents import DOCUMENT_KINDS, DocumentKind, DocumentResult, validate_document
from rhip.identity.health_card import (
    QrClaims,
    QrError,
    issue_qr,
    make_card_number,
    validate_card_number,
    verify_qr,
)
from rhip.identity.ric import (
    Problem,
    RicResult,
    check_digit,
    division_table,
    mask,
    one_digit_error,
    same_person_number,
    transposition,
    upgrade15,
)
from rhip.identity.ric import validate as validate_ric
from rhip.identity.signing import SigningKey, VerifyingKey, generate_key
from rhip.identity.systems import IdentifierSystems, SystemInfo, uscc_check

__all__ = [
    "DOCUMENT_KINDS",
    "DocumentKind",
    "DocumentResult",
    "IdentifierSystems",
    "Problem",
    "QrClaims",
    "QrError",
    "RicResult",
    "SigningKey",
    "SystemInfo",
    "VerifyingKey",
    "check_digit",
    "division_table",
    "generate_key",
    "issue_qr",
    "make_card_number",
    "mask",
    "one_digit_error",
    "same_person_number",
    "transposition",
    "upgrade15",
    "uscc_check",
    "validate_card_number",
    "validate_document",
    "validate_ric",
    "verify_qr",
]
