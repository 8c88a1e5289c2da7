"""The standalone verifier of the audit log (docs/audit-log.md): what a regulator runs, without Django.

Needs only Python 3.11, `rfc8785` and `cryptography`, and of the project only the format core `audit.format`,
which the writer shares, so the two cannot drift apart. `checking`: a log fed one entry at a time; `bundle`: an
export bundle read and verified whole; `proofs`: one proof from the API; `receipts`: one row receipt; `__main__`:
`python -m audit.verifier`.
"""

from audit.format.checkpoint import key_id, verify_checkpoint_signature
from audit.format.entry import entry_line
from audit.format.errors import VerificationError
from audit.format.jcs import canonical, parse
from audit.format.rfc6962 import verify_consistency, verify_inclusion
from audit.verifier.bundle import BundleError, trusted_keys, verify_bundle
from audit.verifier.checking import LogChecker, Result
from audit.verifier.proofs import check_proof
from audit.verifier.receipts import check_receipt

__all__ = [
    "BundleError",
    "LogChecker",
    "Result",
    "VerificationError",
    "canonical",
    "check_proof",
    "check_receipt",
    "entry_line",
    "key_id",
    "parse",
    "trusted_keys",
    "verify_bundle",
    "verify_checkpoint_signature",
    "verify_consistency",
    "verify_inclusion",
]
