"""The audit log's tables beside the events: the Merkle tree's nodes, the leaves' positions,
signed checkpoints, the public keys that signed them and witnesses' cosignatures.

The tree is kept incrementally: every perfect subtree's hash is stored once, when it is
complete (level 0 are the leaf hashes), and never changes; a tree of n leaves has fewer
than 2n rows. Appending a leaf adds at most log2(n) + 1 rows; the root of any earlier size
and every proof are read from O(log n) rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import IntegrityError
from eventsourcing.sqlite import SQLiteDatastore

TABLES = ("audit_tree_nodes", "audit_tree_leaves", "audit_checkpoints", "audit_keys",
          "audit_cosignatures", "audit_map_heads")


class TreeChangedError(Exception):
    """Another process appended to the tree meanwhile: read it again and retry."""


@dataclass(frozen=True)
class LeafRecord:
    index: int
    position: int
    originator_id: str
    version: int
    hash: bytes


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str
    created_at: str
    key_id: str


def create_statements(sqlite: bool, t: dict[str, str]) -> list[str]:
    """The audit log's tables; `t` maps each name of TABLES to its qualified name. The
    ledger's recorders create them with the event table (infrastructure/persistence.py)."""
    blob, big = ("BLOB", "INTEGER") if sqlite else ("bytea", "bigint")
    return [
        f"CREATE TABLE IF NOT EXISTS {t['audit_tree_nodes']} (level {big} NOT NULL, "
        f"node_index {big} NOT NULL, hash {blob} NOT NULL, PRIMARY KEY (level, node_index))",
        f"CREATE TABLE IF NOT EXISTS {t['audit_tree_leaves']} (leaf_index {big} PRIMARY KEY, "
        f"position {big} NOT NULL UNIQUE, originator_id TEXT NOT NULL, "
        f"originator_version {big} NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS audit_tree_leaves_aggregate ON "
        f"{t['audit_tree_leaves']} (originator_id, originator_version)",
        f"CREATE TABLE IF NOT EXISTS {t['audit_checkpoints']} (tree_size {big} PRIMARY KEY, "
        f"root {blob} NOT NULL, note TEXT NOT NULL, created_at TEXT NOT NULL, "
        "key_id TEXT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {t['audit_keys']} (vkey TEXT PRIMARY KEY, "
        "key_id TEXT NOT NULL, first_used TEXT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {t['audit_map_heads']} (originator_id TEXT PRIMARY KEY, "
        f"originator_version {big} NOT NULL, leaf_index {big} NOT NULL, "
        f"first_leaf {big} NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS audit_map_heads_leaf ON {t['audit_map_heads']} "
        "(leaf_index)",
        f"CREATE TABLE IF NOT EXISTS {t['audit_cosignatures']} (tree_size {big} NOT NULL, "
        "witness TEXT NOT NULL, line TEXT NOT NULL, created_at TEXT NOT NULL, "
        "PRIMARY KEY (tree_size, witness))",
    ]


class TreeStore:
    """SQL for the audit log's tables (SQLite file or PostgreSQL schema of the events)."""

    def __init__(self, recorder: Any, create_table: bool = True) -> None:
        self.datastore = recorder.datastore
        self.sqlite = isinstance(self.datastore, SQLiteDatastore)
        self.mark = "?" if self.sqlite else "%s"
        prefix = "" if self.sqlite else f'"{self.datastore.schema}".'
        self.t = {name: prefix + name for name in TABLES}
        if create_table:
            self.create_tables()

    def create_tables(self) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            for statement in create_statements(self.sqlite, self.t):
                cursor.execute(statement)

    def _query(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement.replace("?", self.mark), list(params))
            return list(cursor.fetchall())

    def _write(self, statements: Iterable[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        try:
            with self.datastore.transaction(commit=True) as cursor:
                for statement, rows in statements:
                    if rows:
                        cursor.executemany(statement.replace("?", self.mark),
                                           [list(r) for r in rows])
        except IntegrityError as error:
            raise TreeChangedError(str(error)) from error

    # -- the tree ------------------------------------------------------------------------
    def state(self) -> tuple[int, int]:
        """(leaves, position of the last leaf)."""
        rows = self._query(f"SELECT leaf_index, position FROM {self.t['audit_tree_leaves']} "
                           "ORDER BY leaf_index DESC LIMIT 1")
        if not rows:
            return 0, 0
        return int(rows[0]["leaf_index"]) + 1, int(rows[0]["position"])

    def nodes(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored hashes of these perfect subtrees (level, index); missing ones left out."""
        wanted = sorted(set(keys))
        found: dict[tuple[int, int], bytes] = {}
        for start in range(0, len(wanted), 200):
            chunk = wanted[start:start + 200]
            where = " OR ".join(["(level = ? AND node_index = ?)"] * len(chunk))
            params = [v for key in chunk for v in key]
            for row in self._query(f"SELECT level, node_index, hash FROM "
                                   f"{self.t['audit_tree_nodes']} WHERE {where}", params):
                found[(int(row["level"]), int(row["node_index"]))] = bytes(row["hash"])
        return found

    def append(self, leaves: Sequence[tuple[int, int, str, int]],
               nodes: Sequence[tuple[int, int, bytes]]) -> None:
        """Leaves (index, position, id, version) and completed subtrees, in one transaction;
        TreeChangedError when another process appended the same indexes first."""
        heads: dict[str, tuple[str, int, int, int]] = {}
        for index, _, originator_id, version in leaves:
            first = heads[originator_id][3] if originator_id in heads else index
            heads[originator_id] = (originator_id, version, index, first)
        heads_table = self.t["audit_map_heads"]
        self._write([
            (f"INSERT INTO {self.t['audit_tree_leaves']} (leaf_index, position, originator_id, "
             "originator_version) VALUES (?, ?, ?, ?)", leaves),
            (f"INSERT INTO {self.t['audit_tree_nodes']} (level, node_index, hash) "
             "VALUES (?, ?, ?)", nodes),
            (f"INSERT INTO {heads_table} (originator_id, originator_version, leaf_index, "
             "first_leaf) VALUES (?, ?, ?, ?) ON CONFLICT (originator_id) DO UPDATE SET "
             "originator_version = excluded.originator_version, "
             f"leaf_index = excluded.leaf_index WHERE {heads_table}.leaf_index < "
             "excluded.leaf_index", list(heads.values())),
        ])

    def leaf_at_position(self, position: int) -> LeafRecord | None:
        found = self._leaves("l.position = ?", [position])
        return found[0] if found else None

    def leaf_at_index(self, index: int) -> LeafRecord | None:
        found = self._leaves("l.leaf_index = ?", [index])
        return found[0] if found else None

    def leaves_of(self, originator_id: str) -> list[LeafRecord]:
        return self._leaves("l.originator_id = ?", [originator_id])

    def leaves_from(self, index: int, limit: int) -> list[LeafRecord]:
        return self._leaves("l.leaf_index >= ?", [index], limit)

    def _leaves(self, where: str, params: list[Any], limit: int | None = None) -> list[LeafRecord]:
        statement = (f"SELECT l.leaf_index, l.position, l.originator_id, l.originator_version, "
                     f"n.hash FROM {self.t['audit_tree_leaves']} l JOIN "
                     f"{self.t['audit_tree_nodes']} n ON n.level = 0 AND "
                     f"n.node_index = l.leaf_index WHERE {where} ORDER BY l.leaf_index")
        if limit is not None:
            statement += f" LIMIT {int(limit)}"
        return [LeafRecord(int(r["leaf_index"]), int(r["position"]), r["originator_id"],
                           int(r["originator_version"]), bytes(r["hash"]))
                for r in self._query(statement, params)]

    def heads(self, size: int, since: int = 0) -> list[tuple[str, int, int, int]]:
        """(aggregate id, last version, leaf index of that event, leaf index of its first)
        of every aggregate written among leaves `since`..`size` - 1: from the kept heads
        when none moved past `size`, else from the leaves themselves."""
        table = self.t["audit_map_heads"]
        rows = self._query(f"SELECT originator_id, originator_version, leaf_index, first_leaf "
                           f"FROM {table} WHERE leaf_index >= ?", [since])
        if all(int(r["leaf_index"]) < size for r in rows) and (
                rows or since > 0 or size == 0 or self._query(
                    f"SELECT 1 FROM {table} LIMIT 1")):
            return [(r["originator_id"], int(r["originator_version"]), int(r["leaf_index"]),
                     int(r["first_leaf"])) for r in rows]
        leaves = self.t["audit_tree_leaves"]
        rows = self._query(
            f"SELECT l.originator_id, l.originator_version, l.leaf_index, h.first FROM {leaves} "
            f"l JOIN (SELECT originator_id, MAX(leaf_index) AS head, MIN(leaf_index) AS first "
            f"FROM {leaves} WHERE leaf_index < ? GROUP BY originator_id) h "
            "ON h.head = l.leaf_index WHERE h.head >= ?", [size, since])
        return [(r["originator_id"], int(r["originator_version"]), int(r["leaf_index"]),
                 int(r["first"])) for r in rows]

    def aggregates_before(self, size: int) -> int:
        """How many aggregates first appear among the first `size` leaves (kept heads)."""
        rows = self._query(f"SELECT COUNT(*) AS n FROM {self.t['audit_map_heads']} "
                           "WHERE first_leaf < ?", [size])
        return int(rows[0]["n"])

    # -- checkpoints, keys, cosignatures ------------------------------------------------------
    def add_checkpoint(self, checkpoint: StoredCheckpoint, vkey: str) -> None:
        self._write([
            (f"INSERT INTO {self.t['audit_checkpoints']} (tree_size, root, note, created_at, "
             "key_id) VALUES (?, ?, ?, ?, ?)", [(checkpoint.size, checkpoint.root,
                                                 checkpoint.note, checkpoint.created_at,
                                                 checkpoint.key_id)]),
        ])
        self.remember_key(vkey, checkpoint.key_id, checkpoint.created_at)

    def remember_key(self, vkey: str, key_id: str, when: str) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(f"INSERT INTO {self.t['audit_keys']} (vkey, key_id, first_used) "
                           "VALUES (?, ?, ?) ON CONFLICT (vkey) DO NOTHING".replace(
                               "?", self.mark), [vkey, key_id, when])

    def signing_keys(self) -> list[tuple[str, str]]:
        """(vkey, first used) of every key that signed a checkpoint here, oldest first."""
        return [(r["vkey"], r["first_used"]) for r in self._query(
            f"SELECT vkey, first_used FROM {self.t['audit_keys']} ORDER BY first_used, vkey")]

    def checkpoints(self, limit: int = 100, before: int | None = None) -> list[StoredCheckpoint]:
        where, params = ("WHERE tree_size < ?", [before]) if before is not None else ("", [])
        rows = self._query(f"SELECT tree_size, root, note, created_at, key_id FROM "
                           f"{self.t['audit_checkpoints']} {where} ORDER BY tree_size DESC "
                           f"LIMIT {int(limit)}", params)
        return [self._checkpoint(r) for r in rows]

    def checkpoint(self, size: int) -> StoredCheckpoint | None:
        rows = self._query(f"SELECT tree_size, root, note, created_at, key_id FROM "
                           f"{self.t['audit_checkpoints']} WHERE tree_size = ?", [size])
        return self._checkpoint(rows[0]) if rows else None

    @staticmethod
    def _checkpoint(row: Any) -> StoredCheckpoint:
        return StoredCheckpoint(int(row["tree_size"]), bytes(row["root"]), row["note"],
                                row["created_at"], row["key_id"])

    def add_cosignature(self, size: int, witness: str, line: str, when: str) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(f"INSERT INTO {self.t['audit_cosignatures']} (tree_size, witness, "
                           "line, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (tree_size, "
                           "witness) DO UPDATE SET line = excluded.line".replace("?", self.mark),
                           [size, witness, line, when])

    def cosignatures(self, size: int) -> list[str]:
        return [r["line"] for r in self._query(
            f"SELECT line FROM {self.t['audit_cosignatures']} WHERE tree_size = ? "
            "ORDER BY witness", [size])]
