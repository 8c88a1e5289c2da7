"""The verifier holds a bundle to the spec's exact wording: what it says must pass passes, and every
other spelling of a member, a line or a bundle fails by the rule it breaks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from audit.verifier import BundleError, verify_bundle
from tests.audit.test_verifier import _resigned, make_checkpoint, make_entries, write_bundle
from tests.audit.verifier_cli import run_verifier


def _rechain(entries: list[dict[str, Any]], first_prev: str | None = None) -> list[dict[str, Any]]:
    """The entries with prev and hash recomputed, as someone rewriting them would."""
    prev = entries[0]["prev"] if first_prev is None else first_prev
    out = []
    for e in entries:
        body = {k: v for k, v in e.items() if k != "hash"} | {"prev": prev}
        body["hash"] = hashlib.sha256(rfc8785.dumps({k: v for k, v in body.items() if k != "hash"})).hexdigest()
        prev = body["hash"]
        out.append(body)
    return out


def _canonical_lines(entries: list[dict[str, Any]]) -> list[str]:
    """entries.jsonl exactly as modelgov writes it (canonical lines: the verifier's fast path)."""
    return [rfc8785.dumps(e).decode() for e in entries]


def _with(entries: list[dict[str, Any]], index: int, **change: Any) -> list[dict[str, Any]]:
    changed = [dict(e) for e in entries]
    changed[index].update(change)
    return _rechain(changed)


@pytest.fixture
def entries() -> list[dict[str, Any]]:
    return make_entries(12)


@pytest.mark.parametrize("canonical", [False, True], ids=["reference-path", "fast-path"])
@pytest.mark.parametrize(("change", "rule"), [
    ({"ts": "\uff12\uff10\uff12\uff16-01-01T00:00:05.000000Z"}, "entry.ts"),  # full-width digits are Unicode digits
    ({"ts": "2026-01-01T00:00:05.000000Z\n"}, "entry.ts"),
    ({"ts": "2026-01-01T00:00:99.000000Z"}, "entry.ts"),  # sorts after the one before, names no instant
    ({"ts": "2026-01-01T00:60:00.000000Z"}, "entry.ts"),  # the same day as the one before, no such minute
    ({"ts": "2026-01-01T24:00:00.000000Z"}, "entry.ts"),  # nor such hour
    ({"ts": "2026-02-30T00:00:05.000000Z"}, "entry.ts"),
    ({"action": "registry.modèle.create"}, "entry.action"),
    ({"action": "registry.modelversion.create\n"}, "entry.action"),
    ({"action": "registry.model.version.create"}, "entry.action"),  # app.subject.verb: three parts
    ({"seq": 5.5}, "entry.seq"),
])
def test_entry_members_spelt_otherwise_fail_by_their_rule(tmp_path: Path, entries: list[dict[str, Any]],
                                                          change: dict[str, Any], rule: str, canonical: bool) -> None:
    changed = _with(entries, 4, **change)
    lines = _canonical_lines(changed) if canonical else changed
    r = verify_bundle(write_bundle(tmp_path, lines, []))
    assert (r.ok, r.rule) == (False, rule), r
    assert r.failed_seq == 5, r


def test_an_integer_written_as_a_float_is_the_same_integer(tmp_path: Path, entries: list[dict[str, Any]]) -> None:
    """Spec section 5: any JSON serialisation; RFC 8785 writes 5.0 as 5, so the hash is the same."""
    lines = [json.dumps(e) for e in entries]
    lines[4] = lines[4].replace('"seq": 5,', '"seq": 5.0,').replace('"v": 1,', '"v": 1.0,')
    assert '"seq": 5.0' in lines[4] and '"v": 1.0' in lines[4]
    cp = make_checkpoint(entries, 12)
    cp = _resigned(cp, size=12.0)
    r = verify_bundle(write_bundle(tmp_path, lines, [cp]))
    assert r.ok and r.entries == 12 and r.checkpoints_checked == 1, r


def test_upper_case_root_and_head_are_hex_too(tmp_path: Path, entries: list[dict[str, Any]]) -> None:
    """Section 4 says "hex" for root and head (lower case only for the key id); the signature covers
    the spelling given, and the values are compared."""
    cp = make_checkpoint(entries, 12)
    cp = _resigned(cp, root=cp["root"].upper(), head=cp["head"].upper())
    r = verify_bundle(write_bundle(tmp_path, entries, [cp]))
    assert r.ok and r.checkpoints_checked == 1, r
    wrong = _resigned(cp, root=make_checkpoint(entries, 11)["root"].upper())
    r = verify_bundle(write_bundle(tmp_path / "wrong", entries, [wrong]))
    assert (r.ok, r.rule, r.failed_checkpoint_size) == (False, "checkpoint.root", 12)


@pytest.mark.parametrize("canonical", [False, True], ids=["reference-path", "fast-path"])
def test_a_repeated_member_is_refused_whichever_copy_a_reader_keeps(
        tmp_path: Path, entries: list[dict[str, Any]], canonical: bool) -> None:
    """RFC 8785 takes I-JSON: one reader would keep the first "action", another the last."""
    lines = _canonical_lines(entries) if canonical else [json.dumps(e) for e in entries]
    lines[4] = '{"action":"evil.thing.happened",' + lines[4][1:]
    r = verify_bundle(write_bundle(tmp_path, lines, []))
    assert (r.ok, r.rule, r.failed_seq) == (False, "entry.parse", 5), r
    assert "duplicate member 'action'" in (r.message or "")
    # A repeated member in a checkpoint line, too.
    cp_line = '{"size":1,' + json.dumps(make_checkpoint(entries, 12))[1:]
    bundle = write_bundle(tmp_path / "cp", entries, [])
    (bundle / "checkpoints.jsonl").write_text(cp_line + "\n")
    r = verify_bundle(bundle)
    assert (r.ok, r.rule) == (False, "checkpoint.parse"), r


def test_canonical_lines_still_verify_on_the_fast_path(tmp_path: Path, entries: list[dict[str, Any]]) -> None:
    r = verify_bundle(write_bundle(tmp_path, _canonical_lines(entries), [make_checkpoint(entries, 12)]))
    assert r.ok and r.entries == 12 and r.checkpoints_checked == 1, r


@pytest.mark.parametrize("pad", ["  ", "\t", "\r", " \r"], ids=["spaces", "tab", "cr", "space-cr"])
def test_white_space_around_a_line_is_allowed(tmp_path: Path, entries: list[dict[str, Any]], pad: str) -> None:
    for where, lines in (("after", [line + pad for line in _canonical_lines(entries)]),
                         ("before", [pad + line for line in _canonical_lines(entries)])):
        r = verify_bundle(write_bundle(tmp_path / where, lines, [make_checkpoint(entries, 12)]))
        assert r.ok and r.entries == 12 and r.checkpoints_checked == 1, (where, r)


@pytest.mark.parametrize("tail", ["x", "{}", ",", " 1"])
def test_anything_else_after_the_object_fails(tmp_path: Path, entries: list[dict[str, Any]], tail: str) -> None:
    lines = _canonical_lines(entries)
    lines[6] += tail
    r = verify_bundle(write_bundle(tmp_path, lines, []))
    assert (r.ok, r.rule, r.failed_seq) == (False, "entry.parse", 7), r


def test_every_line_must_parse_blank_ones_included(tmp_path: Path, entries: list[dict[str, Any]]) -> None:
    lines: list[Any] = [*entries[:5], "", *entries[5:]]
    r = verify_bundle(write_bundle(tmp_path, lines, []))
    assert (r.ok, r.rule, r.failed_seq) == (False, "entry.parse", 6), r
    bundle = write_bundle(tmp_path / "cp", entries, [make_checkpoint(entries, 12)])
    (bundle / "checkpoints.jsonl").write_text("\n" + (bundle / "checkpoints.jsonl").read_text())
    r = verify_bundle(bundle)
    assert (r.ok, r.rule) == (False, "checkpoint.parse"), r


def test_a_failure_before_any_seq_is_named_by_its_line(tmp_path: Path, entries: list[dict[str, Any]]) -> None:
    for first in ("{not json", json.dumps(entries[0] | {"seq": "1"})):
        bundle = write_bundle(tmp_path / str(len(first)), [first, *entries[1:]], [])
        r = verify_bundle(bundle)
        assert not r.ok and (r.failed_seq, r.failed_line) == (None, 1), r
        assert r.summary().startswith("FAILED at entries.jsonl line 1: rule entry."), r.summary()
        done = run_verifier(str(bundle))
        assert done.returncode == 1 and "entries.jsonl line 1" in done.stdout and "None" not in done.stdout


def test_a_bundle_without_checkpoints_jsonl_cannot_be_read(tmp_path: Path, entries: list[dict[str, Any]]) -> None:
    bundle = write_bundle(tmp_path, entries, [])
    (bundle / "checkpoints.jsonl").unlink()
    with pytest.raises(BundleError, match=r"no checkpoints\.jsonl"):
        verify_bundle(bundle)
    done = run_verifier(str(bundle))
    assert done.returncode == 2 and "no checkpoints.jsonl" in done.stderr


def test_a_range_export_is_held_to_the_heads_of_the_checkpoints_inside_it(
        tmp_path: Path, entries: list[dict[str, Any]]) -> None:
    """A checkpoint's root needs seq 1 onwards, but its head can be checked for any size in the range,
    and the checkpoint just before the range pins the first prev that a range takes as given."""
    cps = [make_checkpoint(entries, 4), make_checkpoint(entries, 8), make_checkpoint(entries, 12)]
    honest = verify_bundle(write_bundle(tmp_path / "honest", entries[4:], cps))
    assert honest.ok and (honest.first_seq, honest.last_seq) == (5, 12), honest
    assert any("sizes [4, 8, 12]: signature and head checked" in n for n in honest.notices), honest.notices
    # Seq 6 rewritten and everything after it re-hashed from the given prev.
    forged = _with(entries, 5, changes={"stage": {"old": "none", "new": "production"}})
    r = verify_bundle(write_bundle(tmp_path / "forged", forged[4:], cps))
    assert (r.ok, r.rule, r.failed_checkpoint_size) == (False, "checkpoint.head", 8), r
    # The whole range re-hashed from a made-up first prev: the checkpoint at size 4 names it.
    rewritten = _rechain(entries[4:], first_prev="ab" * 32)
    r = verify_bundle(write_bundle(tmp_path / "rewritten", rewritten, cps))
    assert (r.ok, r.rule, r.failed_checkpoint_size) == (False, "checkpoint.head", 4), r
    # A signed checkpoint whose head is wrong, inside the range.
    bad = _resigned(cps[1], head=entries[6]["hash"])
    r = verify_bundle(write_bundle(tmp_path / "bad", entries[4:], [cps[0], bad, cps[2]]))
    assert (r.ok, r.rule, r.failed_checkpoint_size) == (False, "checkpoint.head", 8), r


def test_a_range_exports_first_prev_is_64_hex_digits_and_nothing_more(tmp_path: Path,
                                                                      entries: list[dict[str, Any]]) -> None:
    given = _rechain(entries[4:], first_prev=entries[3]["hash"] + "\n")
    r = verify_bundle(write_bundle(tmp_path, given, []))
    assert (r.ok, r.rule, r.failed_seq) == (False, "entry.prev", 5), r


def test_the_writer_refuses_an_action_every_verifier_would_refuse(db: None) -> None:
    from audit import writer

    for action in ("registry.modèle.create", "registry.model.version.create", "registry.model\n.create",
                   "Registry.model.create", "registry.model"):
        with pytest.raises(ValueError, match=r"app\.subject\.verb"):
            writer.record(action=action, obj=writer.ObjectRef(type="registry.model", id="1", repr="m"), changes={})
