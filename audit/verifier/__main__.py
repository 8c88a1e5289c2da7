"""The outsider's verifier of an audit log export (format v1), from the command line.

    python -m audit.verifier BUNDLE [--json] [--key PEM ...]   # a directory, .zip or .tar.gz
    python -m audit.verifier --proof FILE --key PEM [--key PEM] [--old-checkpoint FILE]
                                                 # one proof from the API (see audit.verifier.proofs)
    python -m audit.verifier --receipt FILE --key PEM [--key PEM]
                                                 # one row receipt (see audit.verifier.receipts)

Exit code 0: every entry and checkpoint verified (or the proof, or the receipt); 1: a check failed (the first
failure is named by seq or checkpoint size and rule; for a proof or receipt, by rule); 2: the bundle, proof,
receipt or a key could not be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from audit.format.errors import VerificationError
from audit.format.jcs import read_json
from audit.verifier.bundle import BundleError, trusted_keys, verify_bundle
from audit.verifier.proofs import check_proof
from audit.verifier.receipts import check_receipt


def _check_document(args: argparse.Namespace) -> int:
    """A proof (`--proof`) or a row receipt (`--receipt`), against the keys given."""
    try:
        # As for a bundle: I-JSON, so a member given twice is refused, not read as its last value.
        doc = read_json(Path(args.receipt or args.proof).read_bytes().decode("utf-8"))
        keys = trusted_keys([Path(k).read_bytes() for k in args.key])
        kept = read_json(Path(args.old_checkpoint).read_bytes().decode("utf-8")) if args.old_checkpoint else None
    except (OSError, ValueError, RecursionError, BundleError) as exc:
        print(f"cannot read: {exc}", file=sys.stderr)
        return 2
    try:
        print("OK: " + (check_receipt(doc, keys) if args.receipt else check_proof(doc, keys, kept)))
    except VerificationError as exc:
        print(f"FAILED: rule {exc.rule}: {exc.message}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m audit.verifier", description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path, nargs="?")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--proof", type=Path, help="check one proof document from the API instead of a bundle")
    parser.add_argument("--receipt", type=Path, help="check one row receipt from the API instead of a bundle")
    parser.add_argument("--key", action="append", default=[],
                        help="a public key (PEM) you trust; checkpoints signed by any other key then fail")
    parser.add_argument("--old-checkpoint", help="with --proof of consistency: the older checkpoint you kept")
    args = parser.parse_args(argv)
    if args.proof is not None and args.receipt is not None:
        parser.error("give --proof or --receipt, not both")
    if args.proof is not None or args.receipt is not None:
        if not args.key:
            parser.error("--proof and --receipt need at least one --key: a proof is only as good as the key you trust")
        if args.bundle is not None:
            parser.error("give a bundle, or a proof or receipt, not both")
        return _check_document(args)
    if args.bundle is None:
        parser.error("give a bundle, --proof FILE --key PEM, or --receipt FILE --key PEM")
    try:
        trusted = trusted_keys([Path(k).read_bytes() for k in args.key]) if args.key else None
        result = verify_bundle(args.bundle, trusted)
    except (BundleError, OSError) as exc:
        print(f"cannot read bundle: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(result), indent=2) if args.json else result.summary())
    if not args.json:
        for notice in result.notices:
            print(f"note: {notice}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
