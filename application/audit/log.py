"""The transparency log over the event store: the Merkle tree kept up to date, signed
checkpoints, inclusion and consistency proofs, and verification against a checkpoint.

The tree follows the notification log: `update()` appends every stored event after the
last leaf (in position order, gaps allowed) and stores the completed subtrees; it runs
before each checkpoint, so the command path does not pay for it. A checkpoint is taken
on demand (`returns-ledger audit checkpoint`) and by the running service every
AUDIT_CHECKPOINT_SECONDS (default 60) when the log grew; each is signed with the log's
Ed25519 key after the tree was proved consistent with the previous checkpoint.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from eventsourcing.persistence import ConnectionPoolClosedError, PersistenceError

from application.audit.report import (
    BAD_CHECKPOINT,
    CHECKPOINT_MISMATCH,
    READ_MISMATCH,
    TRUNCATED,
    Breach,
    Verification,
)
from application.audit.transparency import (
    EMPTY_ROOT,
    Checkpoint,
    CompactRange,
    HeadsMap,
    NoteSigner,
    NoteVerifier,
    ProofError,
    b64,
    consistency_proof,
    event_leaf,
    inclusion_proof,
    map_extension,
    open_checkpoint,
    subtree_root,
    verify_consistency,
)
from application.audit.verification import CheckedEvent, DamagedStoreError, LedgerAudit
from domain.errors import NotFoundError
from infrastructure.tree_store import StoredCheckpoint, TreeChangedError, TreeStore

log = logging.getLogger("returns_ledger.audit")
T = TypeVar("T")

DEFAULT_ORIGIN = "returns-ledger.local/audit"
DEFAULT_SIGNING_KEY_FILE = "var/audit-signing.key"
DEFAULT_CHECKPOINT_SECONDS = 60.0
APPEND_BATCH = 5000
_STORES: weakref.WeakKeyDictionary[Any, TreeStore] = weakref.WeakKeyDictionary()
_STORES_LOCK = threading.Lock()
_MAPS: weakref.WeakKeyDictionary[Any, tuple[int, HeadsMap]] = weakref.WeakKeyDictionary()
_MAP_LOCK = threading.Lock()


class TreeDamagedError(Exception):
    """The tree's own tables were altered: a node is missing or the past changed."""


class LogNotFoundError(NotFoundError):
    """No such checkpoint, leaf or event in the log."""


# -- the signing key ----------------------------------------------------------------------
def load_signer(env: Mapping[str, str]) -> NoteSigner:
    """The log's key: AUDIT_SIGNING_KEY (the 32-byte Ed25519 seed in URL-safe base64), or
    the file AUDIT_SIGNING_KEY_FILE (default var/audit-signing.key), made on first use.
    Its name is the log's origin, AUDIT_ORIGIN."""
    raw = (env.get("AUDIT_SIGNING_KEY") or "").strip()
    source = "AUDIT_SIGNING_KEY"
    if not raw:
        path = Path(env.get("AUDIT_SIGNING_KEY_FILE") or DEFAULT_SIGNING_KEY_FILE)
        if not path.exists():
            _create_key_file(path)
        raw, source = path.read_text().strip(), str(path)
    try:
        seed = base64.urlsafe_b64decode(raw.encode("ascii"))
    except (binascii.Error, ValueError):
        seed = b""
    if len(seed) != 32:
        raise ValueError(f"{source}: the audit signing key is 32 bytes in URL-safe base64")
    return NoteSigner(origin_of(env), Ed25519PrivateKey.from_private_bytes(seed))


def origin_of(env: Mapping[str, str]) -> str:
    return (env.get("AUDIT_ORIGIN") or DEFAULT_ORIGIN).strip()


def new_signing_key() -> str:
    """A new seed in the form AUDIT_SIGNING_KEY and the key file hold."""
    seed = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw,
                                                      NoEncryption())
    return base64.urlsafe_b64encode(seed).decode("ascii")


def _create_key_file(path: Path) -> None:
    """Write the key to a private temporary file, then link it into place: a reader never
    sees a half-written key, and of two processes starting at once one key wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(new_signing_key() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first: use that one
    finally:
        os.unlink(temporary)


# -- proofs as answered -------------------------------------------------------------------
@dataclass(frozen=True)
class InclusionProof:
    tree_size: int
    leaf_index: int
    position: int
    originator_id: str
    version: int
    leaf_hash: bytes
    hashes: tuple[bytes, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"tree_size": self.tree_size, "leaf_index": self.leaf_index,
                "position": self.position, "originator_id": self.originator_id,
                "version": self.version, "leaf_hash": b64(self.leaf_hash),
                "hashes": [b64(h) for h in self.hashes]}


@dataclass(frozen=True)
class ConsistencyProof:
    first: int
    second: int
    hashes: tuple[bytes, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"first": self.first, "second": self.second,
                "hashes": [b64(h) for h in self.hashes]}


def tree_store(recorder: Any, create_table: bool = True) -> TreeStore:
    """One TreeStore per recorder (creating the tables once)."""
    with _STORES_LOCK:
        store = _STORES.get(recorder)
        if store is None:
            store = _STORES[recorder] = TreeStore(recorder, create_table)
        return store


class AuditLog:
    """The log of one ledger's event store."""

    def __init__(self, ledger: Any, signer: NoteSigner | None = None) -> None:
        self.audit = LedgerAudit(ledger)
        self.env: Mapping[str, str] = getattr(getattr(ledger, "settings", None), "env", None) \
            or dict(ledger.env)
        creates = getattr(getattr(ledger, "settings", None), "creates_tables", True)
        self.store = tree_store(ledger.recorder, create_table=creates)  # CREATE_TABLE
        self._signer = signer
        self.origin = signer.name if signer else origin_of(self.env)

    @property
    def signer(self) -> NoteSigner:
        if self._signer is None:
            self._signer = load_signer(self.env)
        return self._signer

    # -- the tree ---------------------------------------------------------------------
    def update(self) -> int:
        """Append every stored event after the last leaf; the number of leaves now.

        Stops before a row not in the ledger's form (DamagedStoreError): the log never
        takes in what the ledger did not write."""
        for _ in range(10):
            try:
                return self._append_new()
            except TreeChangedError:
                continue  # another process appended meanwhile: start from its tree
        raise TreeChangedError("the tree kept changing under this update")

    def _append_new(self) -> int:
        size, last_position = self.store.state()
        compact = self._compact(size)
        leaves: list[tuple[int, int, str, int]] = []
        nodes: list[tuple[int, int, bytes]] = []

        def on_node(level: int, index: int, hash_: bytes) -> None:
            nodes.append((level, index, hash_))

        damage: Breach | None = None
        for event in self.audit.events(after=last_position if size else None):
            if not isinstance(event, CheckedEvent):
                damage = event
                break
            compact.append(event_leaf(event.position, event.hash), on_node)
            leaves.append((compact.size - 1, event.position, event.key,
                           event.originator_version))
            if len(leaves) >= APPEND_BATCH:
                self.store.append(leaves, nodes)
                leaves, nodes = [], []
        self.store.append(leaves, nodes)
        if damage is not None:
            raise DamagedStoreError(damage)
        return compact.size

    def _compact(self, size: int) -> CompactRange:
        keys = CompactRange.subtrees(size)
        found = self.store.nodes(keys)
        if len(found) != len(keys):
            raise TreeDamagedError(f"the tree of {size} leaves lacks stored subtrees "
                                   f"{sorted(set(keys) - found.keys())}")
        return CompactRange(size, [found[k] for k in keys])

    def _with_nodes(self, compute: Callable[[Callable[[int, int], bytes]], T]) -> T:
        """Run a proof computation twice: once to learn which subtrees it reads, then on
        those read in one query."""
        wanted: list[tuple[int, int]] = []

        def record(level: int, index: int) -> bytes:
            wanted.append((level, index))
            return EMPTY_ROOT

        compute(record)
        found = self.store.nodes(wanted)
        if len(found) != len(set(wanted)):
            raise TreeDamagedError("the tree lacks stored subtrees "
                                   f"{sorted(set(wanted) - found.keys())[:5]}")
        return compute(lambda level, index: found[(level, index)])

    def _proof_of(self, index: int, size: int) -> list[bytes]:
        return self._with_nodes(lambda nodes: inclusion_proof(nodes, index, size))

    def root(self, size: int) -> bytes:
        if size == 0:
            return EMPTY_ROOT
        return self._with_nodes(lambda nodes: subtree_root(nodes, 0, size))

    # -- checkpoints -----------------------------------------------------------------------
    def checkpoint(self, now: datetime) -> tuple[StoredCheckpoint, bool]:
        """Bring the tree up to date and sign a checkpoint of it when the log grew since
        the last one; (the latest checkpoint, whether it is new)."""
        size = self.update()
        latest = self.latest()
        if latest is not None and latest.size == size:
            return latest, False
        root = self.root(size)
        if latest is not None:
            self._check_extends(latest, size, root)
        signer = self.signer
        with _MAP_LOCK:
            heads = self._latest_map(size)
            extension = map_extension(len(heads.entries), heads.root())
        note = signer.sign(Checkpoint(self.origin, size, root, (extension,)).text())
        taken = StoredCheckpoint(size, root, note, now.isoformat(), signer.verifier.key_id.hex())
        try:
            self.store.add_checkpoint(taken, signer.verifier.vkey)
        except TreeChangedError:  # another process signed this size first
            other = self.store.checkpoint(size)
            if other is None:
                raise
            return other, False
        return taken, True

    def _check_extends(self, latest: StoredCheckpoint, size: int, root: bytes) -> None:
        if size < latest.size:
            raise TreeDamagedError(f"the tree has {size} leaves, fewer than the last "
                                   f"checkpoint's {latest.size}: its tables were altered")
        if self.root(latest.size) != latest.root:
            raise TreeDamagedError(f"the tree's first {latest.size} leaves no longer hash to "
                                   "the last checkpoint's root: its tables were altered")
        proof = self.consistency(latest.size, size, root_check=False)
        try:
            verify_consistency(latest.size, size, proof.hashes, latest.root, root)
        except ProofError as error:
            raise TreeDamagedError(f"the tree does not extend the last checkpoint: {error}"
                                   ) from None

    def map(self, size: int) -> HeadsMap:
        """The map of every aggregate's last event among the first `size` leaves (built
        afresh)."""
        return HeadsMap(_heads(self.store.heads(size)))

    def _latest_map(self, size: int) -> HeadsMap:
        """The map at `size`, from the one this process built at an earlier checkpoint with
        only the aggregates written since (else built afresh); under the store's lock."""
        held = _MAPS.get(self.store)
        if held is not None and held[0] <= size and \
                self.store.aggregates_before(held[0]) == len(held[1].entries):
            changed = self.store.heads(size, since=held[0])
            if all(index < size for _, _, index, _ in changed):
                held[1].update(_heads(changed))
                _MAPS[self.store] = (size, held[1])
                return held[1]
        built = self.map(size)
        _MAPS[self.store] = (size, built)
        return built

    def parcel_bundle(self, aggregate_id: UUID, created_at: datetime,
                      size: int | None = None) -> list[dict[str, Any]]:
        """A complete bundle of one aggregate as of a checkpoint (default: the latest):
        every event with its inclusion proof, and its entry in the checkpoint's map."""
        checkpoint = self.checkpoint_at(size) if size is not None else self.latest()
        if checkpoint is None:
            raise LogNotFoundError("no checkpoint yet: take one with `audit checkpoint`")
        verdict = self.verify_parcel(aggregate_id)
        if not verdict.ok:  # no bundle of a parcel whose stored events are not the log's
            assert verdict.breach is not None
            raise DamagedStoreError(verdict.breach)
        heads = self.map(checkpoint.size)
        key = aggregate_id.bytes
        if key not in heads.index:
            raise LogNotFoundError(f"{aggregate_id} has no event in the checkpoint of "
                                   f"{checkpoint.size} events")
        _, version, head_index = heads.entries[heads.index[key]]
        leaves = [leaf for leaf in self.store.leaves_of(str(aggregate_id))
                  if leaf.index < checkpoint.size]
        stored = {r.position: r for r in self.audit.rows.of_aggregate(aggregate_id)}
        lines: list[dict[str, Any]] = [{
            "kind": "header", "format": "returns-ledger-audit-bundle", "format_version": 2,
            "scope": {"parcel": str(aggregate_id)}, "origin": self.origin,
            "checkpoint": self.note_with_cosignatures(checkpoint),
            "created_at": created_at.isoformat()}]
        for leaf in leaves:
            row = stored.get(leaf.position)
            event = self.audit.check_row(row) if row is not None else None
            if not isinstance(event, CheckedEvent) or \
                    event_leaf(event.position, event.hash) != leaf.hash:
                breach = event if isinstance(event, Breach) else Breach(
                    READ_MISMATCH, f"v{leaf.version} at position {leaf.position} is not the "
                    "event the log recorded", str(aggregate_id), leaf.version, leaf.position)
                raise DamagedStoreError(breach)
            proof = self._proof_of(leaf.index, checkpoint.size)
            lines.append({"kind": "event", "position": event.position,
                          "leaf_index": leaf.index, "originator_id": str(aggregate_id),
                          "version": event.originator_version, "topic": event.topic,
                          "state": b64(event.state),
                          "prev_hash": self.audit.prev_hash_of(event.state),
                          "hash": event.hash, "proof": [b64(h) for h in proof]})
        map_index, map_proof = heads.proof(key)
        lines.append({"kind": "map", "originator_id": str(aggregate_id), "version": version,
                      "leaf_index": head_index, "map_index": map_index,
                      "proof": [b64(h) for h in map_proof]})
        lines.append({"kind": "trailer", "events": len(leaves)})
        return lines

    def latest(self) -> StoredCheckpoint | None:
        found = self.store.checkpoints(limit=1)
        return found[0] if found else None

    def checkpoint_at(self, size: int) -> StoredCheckpoint:
        found = self.store.checkpoint(size)
        if found is None:
            raise LogNotFoundError(f"no checkpoint of tree size {size}")
        return found

    def note_with_cosignatures(self, checkpoint: StoredCheckpoint) -> str:
        """The signed note with the witnesses' cosignature lines added."""
        return checkpoint.note + "".join(self.store.cosignatures(checkpoint.size))

    def verifiers(self) -> list[NoteVerifier]:
        """The log's current key and every key that signed a checkpoint here."""
        known = [NoteVerifier.parse(vkey) for vkey, _ in self.store.signing_keys()]
        current = self.signer.verifier
        return known if any(k.vkey == current.vkey for k in known) else [*known, current]

    # -- proofs ------------------------------------------------------------------------
    def _size_or_latest(self, size: int | None) -> int:
        if size is not None:
            tree_size = self.store.state()[0]
            if not 0 < size <= tree_size:
                raise LogNotFoundError(f"the log has {tree_size} leaves: no tree of {size}")
            return size
        latest = self.latest()
        if latest is None:
            raise LogNotFoundError("no checkpoint yet: take one with `audit checkpoint`")
        return latest.size

    def inclusion(self, *, position: int | None = None, originator_id: UUID | None = None,
                  version: int | None = None, size: int | None = None) -> InclusionProof:
        """The proof that an event (by position, or by aggregate and version) is a leaf of
        the tree of `size` leaves (default: the latest checkpoint's)."""
        tree_size = self._size_or_latest(size)
        if position is not None:
            leaf = self.store.leaf_at_position(position)
        else:
            leaf = next((r for r in self.store.leaves_of(str(originator_id))
                         if r.version == version), None)
        if leaf is None:
            raise LogNotFoundError("no such event in the log (not stored, or not yet taken "
                                   "into the tree: take a checkpoint)")
        if leaf.index >= tree_size:
            raise LogNotFoundError(f"the event is leaf {leaf.index}, after the tree of "
                                   f"{tree_size} leaves: prove it against a later checkpoint")
        hashes = self._proof_of(leaf.index, tree_size)
        return InclusionProof(tree_size, leaf.index, leaf.position, leaf.originator_id,
                              leaf.version, leaf.hash, tuple(hashes))

    def consistency(self, first: int, second: int | None = None,
                    root_check: bool = True) -> ConsistencyProof:
        """The proof that the tree of `second` leaves (default: the latest checkpoint's)
        extends the tree of `first`."""
        second = self._size_or_latest(second) if root_check else second
        assert second is not None
        if not 0 < first <= second:
            raise LogNotFoundError(f"no consistency proof from {first} to {second} leaves")
        hashes = self._with_nodes(lambda nodes: consistency_proof(nodes, first, second))
        return ConsistencyProof(first, second, tuple(hashes))

    # -- verification -------------------------------------------------------------------
    def verify_all(self, note: str, keys: list[NoteVerifier] | None = None) -> Verification:
        """Every stored row (as `LedgerAudit.verify_all`), and the tree they make against a
        signed checkpoint: any change at or before its size, or a removed tail, shows."""
        try:
            checkpoint = open_checkpoint(note, keys or self.verifiers(), self.origin)
        except ProofError as error:
            return Verification("all", 0, Breach(BAD_CHECKPOINT, str(error)))
        compact = CompactRange()
        result = self.audit.verify_all(tree=compact, tree_size=checkpoint.size)
        if not result.ok:
            return result
        if compact.size < checkpoint.size:
            last = result.digest.position if result.digest else 0
            return Verification("all", result.events, Breach(
                TRUNCATED, f"the store holds {compact.size} events, the checkpoint "
                f"{checkpoint.size}: events were removed", position=last))
        if compact.root() != checkpoint.root:
            return Verification("all", result.events, self._first_changed(checkpoint.size))
        return Verification("all", result.events, None, result.head, result.digest,
                            anchored=True, notes=[f"the first {checkpoint.size} events are "
                                                  "those of the signed checkpoint"],
                            anchor=f"the checkpoint of {checkpoint.size} events")

    def verify_stored(self) -> Verification:
        """`audit verify --all` with nothing kept: every stored row, and the tree they make
        against the ledger's own latest checkpoint, so a removed tail or a rewrite at or
        before it shows here too (as it does in the per-aggregate check against the log's
        leaves). Only a checkpoint kept outside the ledger (`verify_all(note, keys)`) is one
        an intruder cannot remove; the result says which it was."""
        latest = self.latest()
        if latest is None:
            return self.audit.verify_all()
        try:
            stored_keys = [NoteVerifier.parse(vkey) for vkey, _ in self.store.signing_keys()]
        except ValueError as error:
            return Verification("all", 0, Breach(BAD_CHECKPOINT, "a stored signing key "
                                                 f"does not read: {error}"))
        result = self.verify_all(latest.note, stored_keys)
        if not result.ok:
            return result
        return replace(result, anchored=False, notes=[
            f"the first {latest.size} events are those of the ledger's latest checkpoint; "
            "events after it are checked by their chains alone, and a checkpoint kept "
            "outside the ledger (--against) is what an intruder cannot remove"])

    def _first_changed(self, size: int) -> Breach:
        """Where the stored events stop matching the tree the checkpoint signed (the tree's
        leaves say; if they were altered too, only that something changed)."""
        for index, event in enumerate(self.audit.events()):
            assert isinstance(event, CheckedEvent)
            if index >= size:
                break
            leaf = self.store.leaf_at_index(index)
            if leaf is None or leaf.position != event.position or \
                    leaf.hash != event_leaf(event.position, event.hash):
                at = leaf.position if leaf is not None else event.position
                return Breach(CHECKPOINT_MISMATCH, "the stored events no longer make the tree "
                              f"of the checkpoint: leaf {index} differs (the log recorded "
                              f"position {at}, the store has position {event.position} "
                              "there): altered, removed, inserted or moved",
                              str(event.originator_id), event.originator_version,
                              event.position)
        return Breach(CHECKPOINT_MISMATCH, f"the stored events no longer make the tree of the "
                      f"checkpoint ({size} leaves)")

    def verify_parcel(self, aggregate_id: UUID, versions: int | None = None) -> Verification:
        """`LedgerAudit.verify_parcel`, and the aggregate's events against the leaves the log
        recorded for it: one the log holds that the aggregate's read lacks, or that no
        longer hashes as recorded, is a breach."""
        result = self.audit.verify_parcel(aggregate_id, versions)
        if not result.ok:
            return result
        stored = {r.position: r for r in self.audit.rows.of_aggregate(aggregate_id)[:versions]}
        leaves = self.store.leaves_of(str(aggregate_id))
        for leaf in leaves:
            if versions is not None and leaf.version > versions:
                continue
            row = stored.get(leaf.position)
            event = self.audit.check_row(row) if row is not None else None
            if not isinstance(event, CheckedEvent) or event.originator_version != leaf.version \
                    or event_leaf(event.position, event.hash) != leaf.hash:
                what = "is missing from" if row is None else "differs in"
                return Verification(result.scope, result.events, Breach(
                    READ_MISMATCH, f"the log recorded v{leaf.version} at position "
                    f"{leaf.position}; it {what} the aggregate's stored events",
                    str(aggregate_id), leaf.version, leaf.position))
        recorded = {leaf.position for leaf in leaves}
        last_leaf = self.store.state()[1]
        for position, row in sorted(stored.items()):
            if position <= last_leaf and position not in recorded:
                return Verification(result.scope, result.events, Breach(
                    READ_MISMATCH, f"v{row.version} is stored at position {position}, within "
                    "the log's tree, but the log never recorded it there: inserted or moved",
                    str(aggregate_id), row.version, position))
        return result


def _heads(rows: list[tuple[str, int, int, int]]) -> list[tuple[bytes, int, int, int]]:
    return [(UUID(i).bytes, version, index, first) for i, version, index, first in rows]


class CheckpointTimer:
    """Takes a checkpoint every `interval` seconds when the log grew (a daemon thread)."""

    def __init__(self, ledger: Any, interval: float,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.log = AuditLog(ledger)
        self.interval = interval
        self.clock = clock
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-checkpoints",
                                        daemon=True)

    def start(self) -> CheckpointTimer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def tick(self) -> StoredCheckpoint | None:
        """One round: a new checkpoint, or None when the log did not grow."""
        taken, new = self.log.checkpoint(self.clock())
        return taken if new else None

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                taken = self.tick()
            except (ConnectionPoolClosedError, PersistenceError) as error:
                if isinstance(error, ConnectionPoolClosedError) or "closed" in str(error):
                    return  # the ledger was closed: so is its log
                log.exception("audit checkpoint failed")
                continue
            except Exception:  # logged; the next round tries again
                log.exception("audit checkpoint failed")
                continue
            if taken is not None:
                log.info("audit checkpoint", extra={"tree_size": taken.size,
                                                     "key_id": taken.key_id})


def checkpoint_interval(env: Mapping[str, str]) -> float:
    """AUDIT_CHECKPOINT_SECONDS (default 60; 0 turns the timer off)."""
    raw = (env.get("AUDIT_CHECKPOINT_SECONDS") or "").strip()
    if not raw:
        return DEFAULT_CHECKPOINT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"AUDIT_CHECKPOINT_SECONDS: {raw!r} is not a number of seconds"
                         ) from None
    if value < 0:
        raise ValueError("AUDIT_CHECKPOINT_SECONDS: must be at least 0")
    return value
