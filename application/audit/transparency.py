"""The transparency log, pure: RFC 9162 Merkle tree hashing, inclusion and consistency proofs
and their verification, and C2SP signed-note checkpoints signed with Ed25519.

Standalone on purpose: it needs only the Python standard library and `cryptography`, so an
auditor can copy this one file and verify checkpoints, proofs and bundles with it, trusting
nothing else of ours (docs/AUDIT_BUNDLE.md defines everything it checks).

The log's leaves are the stored events in notification order (positions need not be
contiguous); leaf i's data is its position as 8 bytes big-endian followed by the 32 bytes of
its event hash (infrastructure/hash_chain.py). Hashes as in RFC 9162 section 2.1:

    MTH({})       = SHA-256()
    leaf hash     = SHA-256(0x00 || leaf data)
    node hash     = SHA-256(0x01 || left || right)
    MTH(D[n])     = node hash(MTH(D[0:k]), MTH(D[k:n])), k the largest power of 2 below n
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

EMPTY_ROOT = hashlib.sha256(b"").digest()
ED25519 = 0x01  # the signed-note signature type of Ed25519 keys (C2SP signed-note)
EM_DASH = "\u2014"


class ProofError(ValueError):
    """A proof, checkpoint or signature that does not verify; the message says why."""


# -- hashing -------------------------------------------------------------------------------
def leaf_data(position: int, event_hash_hex: str) -> bytes:
    return position.to_bytes(8, "big") + bytes.fromhex(event_hash_hex)


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def event_leaf(position: int, event_hash_hex: str) -> bytes:
    """The leaf hash of the event stored at `position` with this event hash."""
    return leaf_hash(leaf_data(position, event_hash_hex))


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class CompactRange:
    """The roots of the perfect subtrees a tree of `size` leaves decomposes into (left to
    right, largest first): appending a leaf is O(log n), the root is O(log n)."""

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != bin(size).count("1"):
            raise ValueError(f"a tree of {size} leaves has {bin(size).count('1')} "
                             f"perfect subtrees, not {len(hashes)}")
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf: bytes, on_node: Callable[[int, int, bytes], None] | None = None
               ) -> None:
        """Add a leaf hash; `on_node(level, index, hash)` hears of each completed subtree."""
        index, level, current = self.size, 0, leaf
        if on_node is not None:
            on_node(0, index, current)
        while index & 1:
            current = node_hash(self.hashes.pop(), current)
            index >>= 1
            level += 1
            if on_node is not None:
                on_node(level, index, current)
        self.hashes.append(current)
        self.size += 1

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            root = node_hash(left, root)
        return root

    @staticmethod
    def subtrees(size: int) -> list[tuple[int, int]]:
        """(level, index) of each perfect subtree of a tree of `size` leaves, left to right."""
        found, start = [], 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                found.append((level, start >> level))
                start += 1 << level
        return found


# -- proofs (RFC 9162 2.1.3 and 2.1.4), from any source of perfect subtree hashes -----------
Nodes = Callable[[int, int], bytes]  # (level, index) -> hash of that perfect subtree


def subtree_root(nodes: Nodes, start: int, end: int) -> bytes:
    """MTH(D[start:end]) of a range whose left edge the RFC's recursion gives (aligned)."""
    n = end - start
    if n & (n - 1) == 0 and start % n == 0:
        return nodes(n.bit_length() - 1, start // n)
    k = _split(n)
    return node_hash(subtree_root(nodes, start, start + k), subtree_root(nodes, start + k, end))


def inclusion_proof(nodes: Nodes, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size])."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    proof: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            proof.append(subtree_root(nodes, start + k, end))
            end = start + k
        else:
            proof.append(subtree_root(nodes, start, start + k))
            start += k
    return list(reversed(proof))


def consistency_proof(nodes: Nodes, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[0:second])."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from {first} to {second} leaves")
    proof: list[bytes] = []

    def subproof(m: int, start: int, end: int, whole: bool) -> None:
        n = end - start
        if m == n:
            if not whole:
                proof.append(subtree_root(nodes, start, end))
            return
        k = _split(n)
        if m <= k:
            subproof(m, start, start + k, whole)
            proof.append(subtree_root(nodes, start + k, end))
        else:
            subproof(m - k, start + k, end, False)
            proof.append(subtree_root(nodes, start, start + k))

    subproof(first, 0, second, True)
    return proof


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes],
                     root: bytes) -> None:
    """RFC 9162 2.1.3.2; raises ProofError unless the leaf is at `index` of that tree."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not below the tree size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        _check_hash(p)
        if sn == 0:
            raise ProofError("the inclusion proof has more hashes than the tree has levels")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion proof has fewer hashes than the tree has levels")
    if r != root:
        raise ProofError("the inclusion proof does not lead to the checkpoint's root")


def verify_consistency(first: int, second: int, proof: Sequence[bytes], first_root: bytes,
                       second_root: bytes) -> None:
    """RFC 9162 2.1.4.2; raises ProofError unless the second tree extends the first."""
    if first > second:
        raise ProofError(f"a tree of {second} leaves cannot extend one of {first}: "
                         "the log would have shrunk")
    if first == second:
        if proof:
            raise ProofError("two trees of the same size need an empty proof")
        if first_root != second_root:
            raise ProofError("two trees of the same size with different roots")
        return
    if first == 0:
        if proof:
            raise ProofError("the empty tree needs an empty proof")
        return
    if not proof:
        raise ProofError("an empty consistency proof between trees of different sizes")
    for p in proof:
        _check_hash(p)
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first tree is a subtree, prepend it
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof has more hashes than needed")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency proof has fewer hashes than needed")
    if fr != first_root:
        raise ProofError("the consistency proof does not lead to the earlier root")
    if sr != second_root:
        raise ProofError("the consistency proof does not lead to the later root")


def _check_hash(value: bytes) -> None:
    if not isinstance(value, bytes) or len(value) != 32:
        raise ProofError("a proof hash that is not 32 bytes")


# -- signed notes and checkpoints (C2SP signed-note, tlog-checkpoint) -----------------------
def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id of an Ed25519 note key: SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() for c in name) or "+" in name:
        raise ValueError(f"a key name has no spaces and no '+': {name!r}")


@dataclass(frozen=True)
class NoteVerifier:
    """A public key with its name: `name+hexid+base64(0x01 || key)` as text (a vkey)."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    @property
    def vkey(self) -> str:
        encoded = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    @classmethod
    def parse(cls, vkey: str) -> NoteVerifier:
        try:
            name, hex_id, encoded = vkey.strip().split("+", 2)
            raw = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error):
            raise ValueError(f"a verifier key is NAME+HEXID+BASE64, not {vkey!r}") from None
        if len(raw) != 33 or raw[0] != ED25519:
            raise ValueError("a verifier key of another type than Ed25519")
        verifier = cls(name, raw[1:])
        _check_name(name)
        if verifier.key_id.hex() != hex_id.lower():
            raise ValueError(f"the key id {hex_id} does not match the key {name}")
        return verifier

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text)
        except InvalidSignature:
            return False
        return True


class NoteSigner:
    """An Ed25519 private key with its name; signs note texts."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        _check_name(name)
        self.name = name
        self._key = private_key
        raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = NoteVerifier(name, raw)

    def signature_line(self, text: str) -> str:
        signature = self._key.sign(text.encode())
        encoded = base64.b64encode(self.verifier.key_id + signature).decode()
        return f"{EM_DASH} {self.name} {encoded}\n"

    def sign(self, text: str) -> str:
        """The signed note: the text, a blank line, the signature line."""
        return text + "\n" + self.signature_line(text)


@dataclass(frozen=True)
class Checkpoint:
    """A tlog-checkpoint: origin, tree size, root hash, optional extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(),
                 *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse_text(cls, text: str) -> Checkpoint:
        if not text.endswith("\n") or "\n\n" in text:
            raise ProofError("a checkpoint body is lines each ending in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise ProofError("a checkpoint has an origin, a size and a root hash")
        origin, size, root = lines[:3]
        if not size.isdigit() or (size != "0" and size.startswith("0")):
            raise ProofError(f"the tree size {size!r} is not a decimal number")
        try:
            raw = base64.b64decode(root, validate=True)
        except binascii.Error:
            raise ProofError("the root hash is not base64") from None
        if len(raw) != 32:
            raise ProofError("the root hash is not 32 bytes")
        return cls(origin, int(size), raw, tuple(lines[3:]))


@dataclass(frozen=True)
class SignedNote:
    text: str
    signatures: tuple[tuple[str, bytes, bytes], ...]  # (name, key id, signature)

    @classmethod
    def parse(cls, note: str) -> SignedNote:
        if "\r" in note:
            raise ProofError("a signed note has no carriage returns")
        cut = note.rfind("\n\n")
        if cut < 0:
            raise ProofError("a signed note is a text, a blank line and signature lines")
        text, block = note[:cut + 1], note[cut + 2:]
        if not block.endswith("\n"):
            raise ProofError("the signature lines end in a newline")
        signatures = []
        for line in block[:-1].split("\n"):
            parts = line.split(" ")
            if len(parts) != 3 or parts[0] != EM_DASH:
                raise ProofError(f"not a signature line: {line!r}")
            try:
                raw = base64.b64decode(parts[2], validate=True)
            except binascii.Error:
                raise ProofError("a signature that is not base64") from None
            if len(raw) < 5:
                raise ProofError("a signature too short to hold a key id")
            signatures.append((parts[1], raw[:4], raw[4:]))
        return cls(text, tuple(signatures))

    def signed_by(self, verifier: NoteVerifier) -> bool:
        """True when a signature line of this key verifies over the text."""
        return any(name == verifier.name and kid == verifier.key_id
                   and verifier.verify(self.text.encode(), signature)
                   for name, kid, signature in self.signatures)


def open_checkpoint(note: str, log_keys: Sequence[NoteVerifier], origin: str | None = None,
                    witnesses: Sequence[NoteVerifier] = (), witnesses_needed: int = 0
                    ) -> Checkpoint:
    """The checkpoint of a signed note, once a log key (any of `log_keys`: the current one
    and those rotated out) has signed it and `witnesses_needed` of `witnesses` cosigned it;
    raises ProofError otherwise."""
    signed = SignedNote.parse(note)
    checkpoint = Checkpoint.parse_text(signed.text)
    if origin is not None and checkpoint.origin != origin:
        raise ProofError(f"the checkpoint is of the log {checkpoint.origin!r}, not {origin!r}")
    if not any(signed.signed_by(k) for k in log_keys):
        raise ProofError("no signature of a log key you trust verifies over this checkpoint")
    if witnesses_needed:
        cosigned = {w.vkey for w in witnesses if signed.signed_by(w)}
        if len(cosigned) < witnesses_needed:
            raise ProofError(f"{len(cosigned)} of the {witnesses_needed} witness "
                             "cosignatures needed verify")
    return checkpoint


def check_not_older(kept: Checkpoint, offered: Checkpoint) -> None:
    """A checkpoint smaller than one already kept is a rollback: refuse it (the log only
    grows; a verifier that accepts a smaller tree can be shown a rewritten past)."""
    if offered.origin != kept.origin:
        raise ProofError(f"the checkpoint is of the log {offered.origin!r}, "
                         f"the kept one of {kept.origin!r}")
    if offered.size < kept.size:
        raise ProofError(f"the checkpoint's tree ({offered.size} leaves) is smaller than the "
                         f"one you kept ({kept.size}): the log cannot shrink")
    if offered.size == kept.size and offered.root != kept.root:
        raise ProofError("the checkpoint has the size of the one you kept, another root: "
                         "the log was rewritten")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise ProofError(f"not base64: {text!r}") from None


# -- proof documents (the JSON `audit prove` writes and the API answers) --------------------
def check_inclusion_document(proof: dict, checkpoint: Checkpoint,
                             leaf: bytes | None = None) -> None:
    """An inclusion proof document against a checkpoint you opened (and, given the leaf
    hash you computed from the event yourself, for that event); raises ProofError."""
    try:
        size, index = int(proof["tree_size"]), int(proof["leaf_index"])
        claimed = unb64(proof["leaf_hash"])
        hashes = [unb64(h) for h in proof["hashes"]]
    except (KeyError, TypeError, ValueError) as error:
        raise ProofError(f"not an inclusion proof: {error}") from None
    if size != checkpoint.size:
        raise ProofError(f"the proof is for a tree of {size} leaves, the checkpoint has "
                         f"{checkpoint.size}")
    if leaf is not None and claimed != leaf:
        raise ProofError("the proof is for another leaf than the event's")
    verify_inclusion(claimed, index, size, hashes, checkpoint.root)


def check_consistency_document(proof: dict, kept: Checkpoint, later: Checkpoint) -> None:
    """A consistency proof document from a kept checkpoint to a later one; raises ProofError
    also when the later one is smaller (a rollback) or the sizes are not the proof's."""
    check_not_older(kept, later)
    try:
        first, second = int(proof["first"]), int(proof["second"])
        hashes = [unb64(h) for h in proof["hashes"]]
    except (KeyError, TypeError, ValueError) as error:
        raise ProofError(f"not a consistency proof: {error}") from None
    if (first, second) != (kept.size, later.size):
        raise ProofError(f"the proof is from {first} to {second} leaves, the checkpoints "
                         f"have {kept.size} and {later.size}")
    verify_consistency(first, second, hashes, kept.root, later.root)


# -- the map of aggregate heads (committed in each checkpoint) ------------------------------
MAP_EXTENSION = "map"  # the checkpoint's extension line: `map <entries> <base64 root>`


def map_leaf(aggregate_id: bytes, version: int, leaf_index: int) -> bytes:
    """The map leaf of one aggregate: its id (16 bytes), last version and the log leaf
    index of that event, 8 bytes big-endian each, hashed as an RFC 9162 leaf."""
    return leaf_hash(aggregate_id + version.to_bytes(8, "big") + leaf_index.to_bytes(8, "big"))


def map_extension(count: int, root: bytes) -> str:
    return f"{MAP_EXTENSION} {count} {b64(root)}"


def map_of(checkpoint: Checkpoint) -> tuple[int, bytes]:
    """(entries, root) of the map a checkpoint commits to; ProofError when it has none."""
    for line in checkpoint.extensions:
        parts = line.split(" ")
        if len(parts) == 3 and parts[0] == MAP_EXTENSION and parts[1].isdigit():
            root = unb64(parts[2])
            if len(root) == 32:
                return int(parts[1]), root
    raise ProofError("the checkpoint commits to no map of aggregate heads")


class HeadsMap:
    """The Merkle tree over every aggregate's (id, last version, head leaf index): one leaf
    per aggregate, in the order the aggregates first appear in the log, so a new aggregate
    is appended and an aggregate written again changes its own leaf (O(log n) each)."""

    def __init__(self, heads: Sequence[tuple[bytes, int, int, int]] = ()) -> None:
        self.entries: list[tuple[bytes, int, int]] = []
        self.index: dict[bytes, int] = {}
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.tree = CompactRange()
        self.update(heads)

    def update(self, heads: Sequence[tuple[bytes, int, int, int]]) -> None:
        """(id, last version, head leaf index, first leaf index) of aggregates written."""
        for aggregate, version, head, _ in sorted(heads, key=lambda h: h[3]):
            leaf = map_leaf(aggregate, version, head)
            position = self.index.get(aggregate)
            if position is None:
                self.index[aggregate] = len(self.entries)
                self.entries.append((aggregate, version, head))
                self.tree.append(leaf, self._keep)
            else:
                self.entries[position] = (aggregate, version, head)
                self._replace(position, leaf)

    def _keep(self, level: int, index: int, hash_: bytes) -> None:
        self.nodes[(level, index)] = hash_

    def _replace(self, position: int, leaf: bytes) -> None:
        size, nodes = len(self.entries), self.nodes
        nodes[(0, position)] = leaf
        level, index = 0, position
        while ((index >> 1) + 1) << (level + 1) <= size:  # the parent subtree is complete
            parent = node_hash(nodes[(level, index & ~1)], nodes[(level, index | 1)])
            level, index = level + 1, index >> 1
            nodes[(level, index)] = parent
        self.tree = CompactRange(size, [nodes[k] for k in CompactRange.subtrees(size)])

    def root(self) -> bytes:
        return self.tree.root()

    def proof(self, aggregate_id: bytes) -> tuple[int, list[bytes]]:
        position = self.index[aggregate_id]
        return position, inclusion_proof(lambda lv, i: self.nodes[(lv, i)], position,
                                         len(self.entries))


# -- parcel bundles, format 2 (complete as of a checkpoint) ---------------------------------
BUNDLE_FORMAT = "returns-ledger-audit-bundle"
GENESIS_HEX = "0" * 64


def _event_hash(originator_id: str, version: int, topic: str, state: bytes) -> str:
    head = f"{originator_id}\x00{version}\x00{topic}\x00".encode()
    return hashlib.sha256(head + state).hexdigest()


def verify_parcel_bundle(lines: Sequence[str], log_keys: Sequence[NoteVerifier], *,
                         origin: str | None = None, kept: Sequence[str] = (),
                         witnesses: Sequence[NoteVerifier] = (), witnesses_needed: int = 0,
                         ) -> tuple[Checkpoint, int]:
    """Verify a format-2 parcel bundle with nothing but the log's public key(s): the
    checkpoint's signature (and cosignatures), that it is not older than any checkpoint you
    kept, every event's hash, chain link and inclusion in the checkpoint's tree, and, from
    the map the checkpoint commits to, that the bundle holds every event of its parcel up to
    the checkpoint. (checkpoint, events) when it verifies; raises ProofError otherwise."""
    records = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except ValueError:
            raise ProofError(f"line {number} is not JSON") from None
        if not isinstance(record, dict):
            raise ProofError(f"line {number} is not a JSON object")
        records.append(record)
    if len(records) < 3 or records[0].get("kind") != "header" or \
            records[-1].get("kind") != "trailer":
        raise ProofError("a bundle is a header, its lines and a trailer: cut short or not one")
    header, body, trailer = records[0], records[1:-1], records[-1]
    if header.get("format") != BUNDLE_FORMAT or header.get("format_version") != 2:
        raise ProofError(f"not a {BUNDLE_FORMAT} of format 2")
    scope = header.get("scope")
    if not isinstance(scope, dict) or set(scope) != {"parcel"} or \
            not isinstance(scope["parcel"], str):
        raise ProofError("a format-2 bundle is of one parcel: scope {\"parcel\": ID}")
    parcel = scope["parcel"]
    try:
        parcel_bytes = bytes.fromhex(parcel.replace("-", ""))
    except ValueError:
        raise ProofError(f"the scope {parcel!r} is not an id") from None
    if len(parcel_bytes) != 16 or parcel != _hyphenated(parcel_bytes):
        raise ProofError(f"the scope {parcel!r} is not a lowercase hyphenated UUID")
    note = header.get("checkpoint")
    if not isinstance(note, str):
        raise ProofError("the header carries no checkpoint")
    checkpoint = open_checkpoint(note, log_keys, origin, witnesses, witnesses_needed)
    for kept_note in kept:
        check_not_older(open_checkpoint(kept_note, log_keys, origin), checkpoint)
    events = [r for r in body if r.get("kind") == "event"]
    maps = [r for r in body if r.get("kind") == "map"]
    if len(events) + len(maps) != len(body) or len(maps) != 1:
        raise ProofError("a format-2 bundle has event lines and exactly one map line")
    if not events:
        raise ProofError("the bundle holds no event of its parcel")
    prev, last_index = GENESIS_HEX, -1
    for expected, line in enumerate(events, start=1):
        prev, last_index = _check_event(line, expected, parcel, prev, last_index, checkpoint)
    entries, map_root = map_of(checkpoint)
    entry = maps[0]
    try:
        version, leaf_index = int(entry["version"]), int(entry["leaf_index"])
        map_index = int(entry["map_index"])
        map_proof = [unb64(h) for h in entry["proof"]]
        entry_id = entry["originator_id"]
    except (KeyError, TypeError, ValueError) as error:
        raise ProofError(f"an unreadable map line: {error}") from None
    if entry_id != parcel:
        raise ProofError("the map line is of another aggregate than the bundle's scope")
    verify_inclusion(map_leaf(parcel_bytes, version, leaf_index), map_index, entries, map_proof,
                     map_root)
    if (version, leaf_index) != (len(events), last_index):
        raise ProofError(f"the checkpoint's map says the parcel's last event is v{version} at "
                         f"leaf {leaf_index}; the bundle ends at v{len(events)}, leaf "
                         f"{last_index}: events were withheld")
    if trailer.get("events") != len(events):
        raise ProofError("the trailer's event count is not the bundle's")
    return checkpoint, len(events)


def _hyphenated(raw: bytes) -> str:
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _check_event(line: dict, expected: int, parcel: str, prev: str, last_index: int,
                 checkpoint: Checkpoint) -> tuple[str, int]:
    try:
        state = base64.b64decode(line["state"], validate=True)
        version, position = int(line["version"]), int(line["position"])
        leaf_index, topic = int(line["leaf_index"]), str(line["topic"])
        proof = [unb64(h) for h in line["proof"]]
        originator_id = line["originator_id"]
    except (KeyError, TypeError, ValueError, binascii.Error) as error:
        raise ProofError(f"an unreadable event line: {error}") from None
    where = f"v{expected}"
    if originator_id != parcel:
        raise ProofError(f"{where}: an event of another aggregate in a parcel's bundle")
    if version != expected:
        raise ProofError(f"{where}: the line is v{version}; versions run 1, 2, 3, ...")
    if leaf_index <= last_index:
        raise ProofError(f"{where}: leaf {leaf_index} does not come after leaf {last_index}")
    computed = _event_hash(originator_id, version, topic, state)
    if computed != line.get("hash"):
        raise ProofError(f"{where}: the state does not hash to the line's hash")
    try:
        recorded = json.loads(state).get("prev_hash")
    except (ValueError, AttributeError, UnicodeDecodeError):
        recorded = line.get("prev_hash")  # an opaque (encrypted) state: the line says
    if recorded != prev or line.get("prev_hash") != prev:
        raise ProofError(f"{where}: prev_hash is not the hash of v{expected - 1}")
    verify_inclusion(event_leaf(position, computed), leaf_index, checkpoint.size, proof,
                     checkpoint.root)
    return computed, leaf_index
