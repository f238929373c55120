"""The Merkle tree math against a plain reading of RFC 9162, and forged proofs refused."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from application.audit.transparency import (
    EMPTY_ROOT,
    Checkpoint,
    CompactRange,
    NoteSigner,
    NoteVerifier,
    ProofError,
    check_not_older,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    map_leaf,
    node_hash,
    open_checkpoint,
    verify_consistency,
    verify_inclusion,
)


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1, word for word (leaves are leaf hashes here)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def rfc_path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return rfc_path(m, leaves[:k]) + [mth(leaves[k:])]
    return rfc_path(m - k, leaves[k:]) + [mth(leaves[:k])]


def rfc_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return rfc_subproof(m, leaves[:k], whole) + [mth(leaves[k:])]
    return rfc_subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def tree(n: int) -> tuple[list[bytes], dict[tuple[int, int], bytes], CompactRange]:
    leaves = [leaf_hash(i.to_bytes(8, "big")) for i in range(n)]
    nodes: dict[tuple[int, int], bytes] = {}
    compact = CompactRange()
    for leaf in leaves:
        compact.append(leaf, lambda level, index, h: nodes.__setitem__((level, index), h))
    return leaves, nodes, compact


@given(st.integers(min_value=0, max_value=70))
def test_the_compact_range_root_is_the_rfc_root(n) -> None:
    leaves, _, compact = tree(n)
    assert compact.root() == mth(leaves)
    assert CompactRange(0).root() == EMPTY_ROOT
    nodes = tree(n)[1]
    again = CompactRange(n, [nodes[s] for s in CompactRange.subtrees(n)])
    assert again.root() == compact.root()


@given(st.data())
def test_inclusion_proofs_are_the_rfcs_and_verify(data) -> None:
    n = data.draw(st.integers(min_value=1, max_value=70))
    m = data.draw(st.integers(min_value=0, max_value=n - 1))
    leaves, nodes, _ = tree(n)
    proof = inclusion_proof(lambda lv, i: nodes[(lv, i)], m, n)
    assert proof == rfc_path(m, leaves)
    verify_inclusion(leaves[m], m, n, proof, mth(leaves))


@given(st.data())
def test_consistency_proofs_are_the_rfcs_and_verify(data) -> None:
    n = data.draw(st.integers(min_value=1, max_value=70))
    m = data.draw(st.integers(min_value=1, max_value=n))
    leaves, nodes, _ = tree(n)
    proof = consistency_proof(lambda lv, i: nodes[(lv, i)], m, n)
    assert proof == rfc_subproof(m, leaves, True)
    verify_consistency(m, n, proof, mth(leaves[:m]), mth(leaves))


@given(st.data())
def test_forged_inclusion_proofs_are_refused(data) -> None:
    n = data.draw(st.integers(min_value=2, max_value=70))
    m = data.draw(st.integers(min_value=0, max_value=n - 1))
    leaves, nodes, _ = tree(n)
    root = mth(leaves)
    proof = inclusion_proof(lambda lv, i: nodes[(lv, i)], m, n)
    forgeries = [proof[:-1], [*proof, proof[-1]], [*proof[:-1], b"\x00" * 32],
                 [proof[0]] + proof if proof else [b"\x01" * 32]]
    for forged in forgeries:
        with pytest.raises(ProofError):
            verify_inclusion(leaves[m], m, n, forged, root)
    # A proof made for another tree size, offered for this checkpoint's size and root.
    other = data.draw(st.integers(min_value=m + 1, max_value=80).filter(lambda s: s != n))
    big_leaves, big_nodes, _ = tree(80)
    assert big_leaves[:n] == leaves
    other_proof = inclusion_proof(lambda lv, i: big_nodes[(lv, i)], m, other)
    if other_proof != proof:
        with pytest.raises(ProofError):
            verify_inclusion(leaves[m], m, n, other_proof, root)
    with pytest.raises(ProofError):
        verify_inclusion(leaves[m], n, n, proof, root)  # an index past the end


@given(st.data())
def test_forged_consistency_proofs_are_refused(data) -> None:
    n = data.draw(st.integers(min_value=3, max_value=70))
    m = data.draw(st.integers(min_value=1, max_value=n - 1))
    leaves, nodes, _ = tree(n)
    first, second = mth(leaves[:m]), mth(leaves)
    proof = consistency_proof(lambda lv, i: nodes[(lv, i)], m, n)
    for forged in (proof[:-1], [*proof, proof[-1]], [b"\x00" * 32, *proof[1:]]):
        with pytest.raises(ProofError):
            verify_consistency(m, n, forged, first, second)
    with pytest.raises(ProofError):  # the other tree's root
        verify_consistency(m, n, proof, second, first)
    with pytest.raises(ProofError):  # a smaller "later" tree: the log shrank
        verify_consistency(n, m, proof, second, first)
    other = data.draw(st.integers(min_value=m + 1, max_value=80).filter(lambda s: s != n))
    big_nodes = tree(80)[1]
    other_proof = consistency_proof(lambda lv, i: big_nodes[(lv, i)], m, other)
    if other_proof != proof:  # a proof to another size, offered for this one
        with pytest.raises(ProofError):
            verify_consistency(m, n, other_proof, first, second)


def test_signed_checkpoints_verify_with_their_key_only() -> None:
    signer = NoteSigner("returns-ledger.test/log", Ed25519PrivateKey.generate())
    other = NoteSigner("returns-ledger.test/log", Ed25519PrivateKey.generate())
    checkpoint = Checkpoint("returns-ledger.test/log", 5, b"\x07" * 32)
    note = signer.sign(checkpoint.text())
    assert note.startswith("returns-ledger.test/log\n5\nBwcH")
    assert "\n\n\u2014 returns-ledger.test/log " in note
    verifier = NoteVerifier.parse(signer.verifier.vkey)
    assert open_checkpoint(note, [verifier]) == checkpoint
    with pytest.raises(ProofError):
        open_checkpoint(note, [other.verifier])  # another key
    with pytest.raises(ProofError):
        open_checkpoint(note.replace("\n5\n", "\n6\n"), [verifier])  # another size
    with pytest.raises(ProofError):
        open_checkpoint(note, [verifier], origin="another.log")
    with pytest.raises(ValueError):
        NoteVerifier.parse(signer.verifier.vkey.replace("+", "+0", 1))  # wrong key id
    # Rotation: an old checkpoint still verifies with the old key among the trusted ones.
    newer = other.sign(Checkpoint("returns-ledger.test/log", 9, b"\x08" * 32).text())
    assert open_checkpoint(newer, [verifier, other.verifier]).size == 9
    assert open_checkpoint(note, [verifier, other.verifier]).size == 5


def test_witness_cosignatures_are_counted() -> None:
    log = NoteSigner("log.test", Ed25519PrivateKey.generate())
    witnesses = [NoteSigner(f"witness-{i}.test", Ed25519PrivateKey.generate()) for i in range(3)]
    text = Checkpoint("log.test", 3, b"\x01" * 32).text()
    note = log.sign(text) + witnesses[0].signature_line(text) + witnesses[1].signature_line(text)
    known = [w.verifier for w in witnesses]
    assert open_checkpoint(note, [log.verifier], witnesses=known, witnesses_needed=2).size == 3
    with pytest.raises(ProofError):
        open_checkpoint(note, [log.verifier], witnesses=known, witnesses_needed=3)
    doubled = note + witnesses[0].signature_line(text)  # the same witness twice counts once
    with pytest.raises(ProofError):
        open_checkpoint(doubled, [log.verifier], witnesses=known[:1], witnesses_needed=2)


def test_a_checkpoint_smaller_than_a_kept_one_is_refused() -> None:
    kept = Checkpoint("log.test", 10, b"\x01" * 32)
    with pytest.raises(ProofError):
        check_not_older(kept, Checkpoint("log.test", 9, b"\x02" * 32))
    with pytest.raises(ProofError):
        check_not_older(kept, Checkpoint("log.test", 10, b"\x02" * 32))
    check_not_older(kept, Checkpoint("log.test", 11, b"\x02" * 32))


def test_the_reference_verifier_is_one_file_with_stdlib_and_cryptography(tmp_path) -> None:
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import application.audit.transparency as module

    shutil.copy(module.__file__, tmp_path / "transparency.py")
    script = ("import sys\nsys.path.insert(0, '.')\nimport transparency\n"
              "ours = [m for m in sys.modules if m.split('.')[0] in "
              "('application', 'domain', 'infrastructure', 'interfaces', 'eventsourcing')]\n"
              "assert not ours, ours\n"
              "print(transparency.verify_parcel_bundle.__name__)\n")
    done = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert Path(tmp_path / "transparency.py").exists()


def test_a_signed_note_of_the_reference_implementation_verifies() -> None:
    """The example of golang.org/x/mod/sumdb/note (the C2SP signed-note reference): its
    verifier key parses to the same key id, its signature verifies, an edited text does not."""
    from application.audit.transparency import SignedNote

    vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    text = ("If you think cryptography is the answer to your problem,\n"
            "then you don't know what your problem is.\n")
    signature = ("\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2p"
                 "ZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")
    verifier = NoteVerifier.parse(vkey)
    assert verifier.key_id.hex() == "c74f20a3" and verifier.vkey == vkey
    assert SignedNote.parse(text + "\n" + signature).signed_by(verifier)
    assert not SignedNote.parse(text.replace("answer", "question") + "\n" + signature
                                ).signed_by(verifier)


_OFFLINE = """
import json, sys
sys.path[:] = [p for p in sys.path if p.startswith(sys.base_prefix)] + ['site', '.']
import transparency
key = transparency.NoteVerifier.parse(open('log.vkey').read().strip())
checkpoint, events = transparency.verify_parcel_bundle(
    open('parcel.jsonl').read().splitlines(), [key], kept=[open('kept.note').read()])
lines = open('parcel.jsonl').read().splitlines()
try:
    transparency.verify_parcel_bundle(lines[:2] + lines[3:], [key])
    refused = False
except transparency.ProofError:
    refused = True
foreign = sorted({m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names)
                 - {'transparency', 'cryptography', 'cffi', '_cffi_backend', '__main__',
                    '_openssl'})  # _openssl: a module of cryptography's compiled bindings
print(json.dumps({'events': events, 'size': checkpoint.size, 'refused': refused,
                  'foreign': foreign}))
"""


def test_the_copied_verifier_checks_a_bundle_with_only_stdlib_and_cryptography(
        tmp_path, sqlite_env) -> None:
    """The reference verifier copied alone beside the `cryptography` package and its `cffi`
    (nothing else of the environment on the path) verifies a real bundle and refuses one with an event
    withheld; it imports no module but the standard library's and cryptography's."""
    import base64
    import json
    import shutil
    import subprocess
    import sys
    from datetime import UTC, datetime
    from pathlib import Path

    import cryptography

    import application.audit.transparency as module
    from application.audit.log import AuditLog
    from application.ledger import ReturnsLedger
    from demo.scenarios import SCENARIOS

    ledger = ReturnsLedger({**sqlite_env, "PERSONAL_DATA_KEY":
                            base64.urlsafe_b64encode(b"k" * 32).decode()})
    try:
        parcel = SCENARIOS["amazon"](ledger, "")
        log = AuditLog(ledger)
        kept = log.checkpoint(datetime(2026, 4, 1, tzinfo=UTC))[0].note
        lines = log.parcel_bundle(parcel, datetime(2026, 4, 1, tzinfo=UTC))
        vkey = log.signer.verifier.vkey
    finally:
        ledger.close()
    work = tmp_path / "offline"
    (work / "site").mkdir(parents=True)
    shutil.copy(module.__file__, work / "transparency.py")
    site = Path(cryptography.__file__).parent.parent
    for name in ["cryptography", "cffi", *(p.name for p in site.glob("_cffi_backend*"))]:
        (work / "site" / name).symlink_to(site / name)  # cryptography, as pip installs it
    (work / "parcel.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (work / "log.vkey").write_text(vkey + "\n")
    (work / "kept.note").write_text(kept)
    done = subprocess.run([sys.executable, "-I", "-S", "-c", _OFFLINE], cwd=work,
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"events": 10, "size": int(kept.split("\n")[1]),
                                       "refused": True, "foreign": []}


@given(st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=80),
       st.integers(min_value=1, max_value=20))
def test_a_heads_map_updated_in_steps_is_the_map_built_at_once(writes, step) -> None:
    from application.audit.transparency import HeadsMap

    heads: dict[bytes, tuple[bytes, int, int, int]] = {}
    stepped = HeadsMap()
    for start in range(0, len(writes), step):
        changed = {}
        for index in range(start, min(start + step, len(writes))):
            aggregate = writes[index].to_bytes(16, "big")
            version = heads[aggregate][1] + 1 if aggregate in heads else 1
            first = heads[aggregate][3] if aggregate in heads else index
            heads[aggregate] = changed[aggregate] = (aggregate, version, index, first)
        stepped.update(list(changed.values()))
    at_once = HeadsMap(list(heads.values()))
    assert stepped.root() == at_once.root() and stepped.entries == at_once.entries
    for aggregate in heads:
        position, proof = stepped.proof(aggregate)
        verify_inclusion(map_leaf(*stepped.entries[position]), position,
                         len(stepped.entries), proof, at_once.root())
