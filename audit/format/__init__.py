"""The log's format, version 1 (docs/audit-log.md), in plain Python: what the writer and the verifier must agree on.

Imports nothing of Django or of the project, only the standard library, `rfc8785` and `cryptography`, so the
standalone verifier can carry it into a bare virtualenv. `jcs`: canonical JSON and reading JSON text as I-JSON;
`entry`: an entry's members, its rules and its bytes; `rfc6962`: the Merkle tree's hashes, the compact range and
proof checks; `checkpoint`: a checkpoint's signed bytes and its signature check; `receipt`: a production batch's
row lines, leaves and tree, and a row's receipt; `errors`: the broken rule.
"""
