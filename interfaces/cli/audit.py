"""`returns-ledger audit`: replay history, the ledger digest, verification, offline bundles."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar
from uuid import UUID

import click

from application.audit.bundle import verify_bundle, write_bundle
from application.audit.log import (
    DEFAULT_SIGNING_KEY_FILE,
    AuditLog,
    LogNotFoundError,
    TreeDamagedError,
    load_signer,
    new_signing_key,
)
from application.audit.report import BUNDLE_REFUSED, Breach, LedgerDigest, Verification
from application.audit.transparency import (
    NoteVerifier,
    ProofError,
    b64,
    check_consistency_document,
    check_inclusion_document,
    check_not_older,
    open_checkpoint,
    verify_consistency,
    verify_parcel_bundle,
)
from application.audit.verification import DamagedStoreError, LedgerAudit
from application.dto import plain
from application.idempotency import jsonable
from application.ledger import ReturnsLedger
from domain.errors import ParcelNotFoundError
from interfaces.cli.store import open_ledger

T = TypeVar("T")


def _time(_ctx: Any, _param: Any, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("an ISO 8601 time with a zone, e.g. 2026-03-02T09:00Z") from None
    if moment.tzinfo is None:
        raise click.BadParameter("give the time zone, e.g. 2026-03-02T09:00+00:00")
    return moment


def _digest_token(_ctx: Any, _param: Any, value: str | None) -> str | None:
    if value is not None:
        try:
            LedgerDigest.parse(value)
        except ValueError as error:
            raise click.BadParameter(str(error)) from None
    return value


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(jsonable(data), indent=2, ensure_ascii=False, sort_keys=True))


@click.group()
def audit() -> None:
    """Replay a parcel's history, and prove the stored events were not altered."""


@audit.command("history")
@click.argument("parcel_id", type=click.UUID)
@click.option("--as-of", "as_of", callback=_time, help="As recorded by then (inclusive).")
@click.option("--version", type=click.IntRange(min=1, max=2**62), help="Events up to this version.")
@click.option("--occurred-before", callback=_time,
              help="Business-time view: what had happened by then (inclusive).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def history(parcel_id: UUID, as_of: datetime | None, version: int | None,
            occurred_before: datetime | None, as_json: bool) -> None:
    """A parcel's events and the state they add up to, as the ledger knew it."""
    ledger = open_ledger()
    try:
        result = ledger.get_parcel_history(parcel_id, recorded_before=as_of, version=version,
                                           occurred_before=occurred_before)
        name = ledger.actor_names()
        names = {e.actor: name(e.actor) for e in result}  # keys read before the ledger closes
    except ParcelNotFoundError as error:
        _unreadable_history(ledger, parcel_id, error)
        raise click.ClickException(str(error)) from None
    except Exception as error:
        _unreadable_history(ledger, parcel_id, error)
        raise  # the rows are as written: a fault of ours, shown as one
    finally:
        ledger.close()
    if as_json:
        events = [{**jsonable(e), **names[e.actor].columns("actor")} for e in result]
        _echo_json({"id": parcel_id, "view": result.view, "recorded_before": as_of,
                    "version": version, "occurred_before": occurred_before,
                    "state": result.state, "events": events,
                    "damage": list(result.damage)})
        if result.damaged:
            sys.exit(1)
        return
    for entry in result:
        rule = f"  [{entry.data['rule']}]" if entry.data.get("rule") else ""
        late = entry.late
        flag = (f"  LATE: recorded as v{late['recorded_as_version']} after "
                f"v{late['recorded_after_version']}, happened before "
                f"v{late['occurred_before_version']} {late['occurred_before_type']}"
                if late else "")
        click.echo(f"v{entry.version:<3} {entry.type:<22} recorded {entry.recorded_at.isoformat()}"
                   f"  occurred {entry.occurred_at.isoformat() if entry.occurred_at else '-'}"
                   f"  by {names[entry.actor] if entry.actor else '-'}{rule}{flag}")
        if entry.data.get("facts"):
            click.echo(f"      facts: {json.dumps(plain(entry.data['facts']), ensure_ascii=False)}")
    if result.damaged:
        for problem in result.damage:
            click.echo(f"DAMAGED: {problem}")
        click.echo(f"the stored events do not replay into a state: see `returns-ledger audit "
                   f"verify {parcel_id}`")
        sys.exit(1)
    state = result.state
    click.echo(f"state ({result.view} view): " +
               (f"{state.status} at version {state.version}"
                if state is not None and hasattr(state, "status")
                else "nothing known yet" if state is None else f"version {state.version}"))


def _unreadable_history(ledger: ReturnsLedger, parcel_id: UUID, error: Exception) -> None:
    """The history cannot be read: when the stored rows are damaged, say where and exit 1
    (returns when they are as the ledger wrote them)."""
    try:
        verdict = LedgerAudit(ledger).verify_parcel(parcel_id)
    except ParcelNotFoundError:
        return
    if verdict.ok:
        return
    click.echo(f"the stored events of {parcel_id} do not read ({type(error).__name__}):")
    _report(verdict, False)


@audit.command("digest")
@click.option("--json", "as_json", is_flag=True)
def digest(as_json: bool) -> None:
    """The running hash over every stored event, with its position: keep it somewhere safe."""
    ledger = open_ledger()
    try:
        result = LedgerAudit(ledger).digest()
    except DamagedStoreError as error:
        _report(Verification("all", 0, error.breach), as_json)
        return
    finally:
        ledger.close()
    if as_json:
        _echo_json(result.as_dict())
    else:
        click.echo(f"position {result.position}, {result.events} events")
        click.echo(result.token)


def _report(result: Verification, as_json: bool) -> None:
    if as_json:
        _echo_json(result.as_dict())
    elif result.ok:
        click.echo(f"ok: {result.scope}, {result.events} events verified"
                   + (f", matches {result.anchor}" if result.anchored else ""))
        if result.digest is not None:
            click.echo(f"digest now: {result.digest.token}")
        for note in result.notes:
            click.echo(f"note: {note}")
    else:
        breach = result.breach
        assert breach is not None
        where = ", ".join(f"{k} {v}" for k, v in (("aggregate", breach.originator_id),
                                                   ("version", breach.version),
                                                   ("position", breach.position)) if v)
        click.echo(f"BROKEN: {breach.reason}" + (f" at {where}" if where else ""))
        click.echo(f"  {breach.detail}")
    if not result.ok:
        sys.exit(1)


@audit.command("verify")
@click.argument("parcel_id", type=click.UUID, required=False)
@click.option("--all", "everything", is_flag=True, help="Every aggregate, along the log.")
@click.option("--against", help="A checkpoint you kept (a signed-note file), or a digest "
              "POSITION:HEX: detects a removed or rewritten past.")
@click.option("--key", "keys", multiple=True, help="The log's public key NAME+ID+KEY the "
              "checkpoint must be signed with (repeat for rotated keys; default: the "
              "ledger's own, which an intruder could have replaced).")
@click.option("--json", "as_json", is_flag=True)
def verify(parcel_id: UUID | None, everything: bool, against: str | None,
           keys: tuple[str, ...], as_json: bool) -> None:
    """Recompute the hash chains (exit status 1 when something was altered)."""
    if (parcel_id is not None) == (everything or against is not None):
        raise click.UsageError("give a PARCEL_ID, or --all (optionally with --against)")
    note = _kept_note(against) if against is not None else None
    trusted = _verifiers(keys)
    ledger = open_ledger()
    try:
        log = AuditLog(ledger)
        if parcel_id is not None:
            result = log.verify_parcel(parcel_id)
        elif note is not None:
            result = log.verify_all(note, trusted or None)
        else:
            result = log.audit.verify_all(against) if against else log.verify_stored()
    except ParcelNotFoundError as error:
        raise click.ClickException(str(error)) from None
    finally:
        ledger.close()
    _report(result, as_json)


def _kept_note(against: str) -> str | None:
    """The signed note in the file `against` names, or None when it is a digest token."""
    path = Path(against)
    if path.is_file():
        return path.read_text(encoding="utf-8")
    try:
        LedgerDigest.parse(against)
    except ValueError:
        raise click.BadParameter("neither a checkpoint file nor a digest POSITION:HEX",
                                 param_hint="--against") from None
    return None


def _verifiers(keys: tuple[str, ...]) -> list[NoteVerifier]:
    try:
        return [NoteVerifier.parse(_text_or_file(k)) for k in keys]
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--key") from None


def _text_or_file(value: str) -> str:
    path = Path(value)
    return path.read_text(encoding="utf-8").strip() if path.is_file() else value


@audit.command("export")
@click.option("--parcel", "parcel_id", type=click.UUID,
              help="One parcel, complete as of a checkpoint (format 2).")
@click.option("--seller", help="Every aggregate of one seller (format 1).")
@click.option("--all", "everything", is_flag=True, help="Every stored event (format 1).")
@click.option("--size", type=click.IntRange(min=1, max=2**62),
              help="--parcel: as of the checkpoint of this tree size (default: a checkpoint "
                   "taken now).")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), required=True)
def export(parcel_id: UUID | None, seller: str | None, everything: bool, size: int | None,
           out: str) -> None:
    """Write a self-contained JSON Lines bundle (docs/AUDIT_BUNDLE.md)."""
    if sum(x is not None and x is not False for x in (parcel_id, seller, everything)) != 1:
        raise click.UsageError("give exactly one of --parcel, --seller, --all")
    ledger = open_ledger()
    try:
        if parcel_id is not None:
            log = AuditLog(ledger)
            now = datetime.now(UTC)
            if size is None:
                log.checkpoint(now)
            lines = log.parcel_bundle(parcel_id, now, size)
            _write_atomically(out, lambda handle: handle.writelines(
                json.dumps(line, separators=(",", ":"), sort_keys=True) + "\n"
                for line in lines))
            click.echo(f"wrote {out}: {lines[-1]['events']} events of {parcel_id}, complete "
                       f"as of the checkpoint in its header")
            return
        result = _write_atomically(out, lambda handle: write_bundle(
            LedgerAudit(ledger), handle, datetime.now(UTC), seller=seller))
    except DamagedStoreError as error:
        _report(Verification("all", 0, error.breach), False)
        return
    except (LogNotFoundError, TreeDamagedError) as error:
        raise click.ClickException(str(error)) from None
    finally:
        ledger.close()
    click.echo(f"wrote {out}: digest at position {result.position} over {result.events} "
               "events")
    click.echo(result.token)


def _write_atomically(out: str, write: Callable[[IO[str]], T]) -> T:
    """Write to a temporary file beside `out`; rename it to `out` only once complete."""
    target = Path(out)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial",
                                     dir=target.parent if str(target.parent) else ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            result = write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return result


@audit.command("verify-bundle")
@click.argument("bundle", type=click.File("r", encoding="utf-8"))
@click.option("--digest", "trusted", callback=_digest_token,
              help="Format 1: a digest POSITION:HEX from a source you trust.")
@click.option("--key", "keys", multiple=True,
              help="Format 2: the log's public key NAME+ID+KEY (or a file); repeatable.")
@click.option("--kept", "kept", multiple=True, type=click.File("r", encoding="utf-8"),
              help="Format 2: a checkpoint you kept; the bundle's must not be older.")
@click.option("--witness", "witnesses", multiple=True,
              help="Format 2: a witness's public key you know; repeatable.")
@click.option("--witnesses", "needed", type=click.IntRange(min=0), default=0,
              help="Format 2: how many of those witnesses must have cosigned.")
@click.option("--json", "as_json", is_flag=True)
def verify_bundle_command(bundle: Any, trusted: str | None, keys: tuple[str, ...],
                          kept: tuple[Any, ...], witnesses: tuple[str, ...], needed: int,
                          as_json: bool) -> None:
    """Verify a bundle offline (no database): format 2 against the log's key, format 1
    against a digest you trust."""
    lines = bundle.read().splitlines()
    if not _is_format_2(lines):
        _report(verify_bundle(lines, trusted), as_json)
        return
    if not keys:
        raise click.UsageError("a format-2 bundle is verified with the log's public key: --key")
    try:
        checkpoint, events = verify_parcel_bundle(
            lines, _verifiers(keys), kept=[k.read() for k in kept],
            witnesses=_verifiers(witnesses), witnesses_needed=needed)
    except ProofError as error:
        _report(Verification("bundle", 0, Breach(BUNDLE_REFUSED, str(error))), as_json)
        return
    _report(Verification("bundle", events, None, anchored=True, notes=[
        f"every event of the parcel in the checkpoint of {checkpoint.size} events"],
        anchor="the log's signed checkpoint"), as_json)


def _is_format_2(lines: list[str]) -> bool:
    first = next((line for line in lines if line.strip()), "")
    try:
        header = json.loads(first)
    except ValueError:
        return False
    return isinstance(header, dict) and header.get("format_version") == 2


# -- the transparency log: checkpoints, keys, proofs ---------------------------------------
@audit.command("checkpoint")
@click.option("--json", "as_json", is_flag=True)
def checkpoint(as_json: bool) -> None:
    """Bring the Merkle tree up to date and sign a checkpoint when the log grew; print the
    signed note (keep it outside the ledger: `audit checkpoint > kept.note`)."""
    ledger = open_ledger()
    try:
        log = AuditLog(ledger)
        taken, new = log.checkpoint(datetime.now(UTC))
        note = log.note_with_cosignatures(taken)
    except DamagedStoreError as error:
        _report(Verification("all", 0, error.breach), as_json)
        return
    except TreeDamagedError as error:
        raise click.ClickException(f"no checkpoint signed: {error}") from None
    finally:
        ledger.close()
    if as_json:
        _echo_json({"tree_size": taken.size, "root": b64(taken.root), "new": new,
                    "created_at": taken.created_at, "key_id": taken.key_id, "note": note})
        return
    click.echo(("new checkpoint" if new else "the log did not grow: latest checkpoint")
               + f" of {taken.size} events", err=True)
    click.echo(note, nl=False)


@audit.command("checkpoints")
@click.option("--limit", type=click.IntRange(min=1, max=2**62), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def checkpoints(limit: int, as_json: bool) -> None:
    """The checkpoints signed so far, newest first."""
    ledger = open_ledger()
    try:
        log = AuditLog(ledger)
        found = log.store.checkpoints(limit=limit)
        notes = [log.note_with_cosignatures(c) for c in found]
    finally:
        ledger.close()
    if as_json:
        _echo_json([{"tree_size": c.size, "root": b64(c.root), "created_at": c.created_at,
                     "key_id": c.key_id, "note": note} for c, note in zip(found, notes)])
        return
    for c in found:
        click.echo(f"{c.size:>10} events  {c.created_at}  key {c.key_id}  root {b64(c.root)}")


@audit.command("public-key")
@click.option("--all", "every", is_flag=True, help="Also every key rotated out.")
def public_key(every: bool) -> None:
    """The log's public key, NAME+KEYID+KEY (C2SP signed-note verifier key)."""
    ledger = open_ledger()
    try:
        log = AuditLog(ledger)
        keys = log.verifiers() if every else [log.signer.verifier]
    finally:
        ledger.close()
    for key in keys:
        click.echo(key.vkey)


@audit.command("rotate-key")
def rotate_key() -> None:
    """A new checkpoint signing key. The current key first signs a checkpoint of the log as
    it stands (so the store keeps its public key: older checkpoints stay verifiable); then,
    with the key in a file (AUDIT_SIGNING_KEY_FILE, the default), the file gets the new key
    (the old one is not needed again); with AUDIT_SIGNING_KEY in the environment, this prints
    a new key to set there. Give verifiers the new public key, then restart the processes
    that sign (the API's checkpoint timer: `systemctl reload returns-ledger-api`)."""
    ledger = open_ledger()
    try:
        log = AuditLog(ledger)
        old = log.signer.verifier.vkey
        if ledger.recorder.max_notification_id():
            taken, _ = log.checkpoint(datetime.now(UTC))
            click.echo(f"signed with the old key: the checkpoint of {taken.size} events",
                       err=True)
    except TreeDamagedError as error:
        raise click.ClickException(f"not rotated: {error}") from None
    finally:
        ledger.close()
    env = log.env
    seed = new_signing_key()
    new = load_signer({**env, "AUDIT_SIGNING_KEY": seed}).verifier.vkey
    if (env.get("AUDIT_SIGNING_KEY") or "").strip():
        click.echo("AUDIT_SIGNING_KEY is set in the environment: set it to the new key below "
                   "on every process that signs (rolling restart); the old one is not needed "
                   f"again\nold public key: {old}\nnew public key: {new}", err=True)
        click.echo(seed)
        return
    path = Path(env.get("AUDIT_SIGNING_KEY_FILE") or DEFAULT_SIGNING_KEY_FILE)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.rotate")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(seed + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(scratch, path)  # whole or not at all
    click.echo(f"new audit signing key in {path}")
    click.echo(f"old public key: {old}")
    click.echo(f"new public key: {new}")
    click.echo("give verifiers the new public key; restart the API to sign with it: "
               "systemctl reload returns-ledger-api")


@audit.group("prove")
def prove() -> None:
    """Inclusion and consistency proofs (RFC 9162), as JSON."""


@prove.command("inclusion")
@click.option("--position", type=click.IntRange(min=1, max=2**62), help="The event at this position.")
@click.option("--parcel", "parcel_id", type=click.UUID, help="With --version: that event.")
@click.option("--version", type=click.IntRange(min=1, max=2**62))
@click.option("--size", type=click.IntRange(min=1, max=2**62),
              help="The checkpoint's tree size (default: the latest checkpoint).")
def prove_inclusion(position: int | None, parcel_id: UUID | None, version: int | None,
                    size: int | None) -> None:
    """The proof that one event is in a checkpoint's tree."""
    if (position is None) == (parcel_id is None) or (parcel_id is None) != (version is None):
        raise click.UsageError("give --position, or --parcel with --version")
    ledger = open_ledger()
    try:
        proof = AuditLog(ledger).inclusion(position=position, originator_id=parcel_id,
                                           version=version, size=size)
    except (LogNotFoundError, TreeDamagedError) as error:
        raise click.ClickException(str(error)) from None
    finally:
        ledger.close()
    _echo_json(proof.as_dict())


@prove.command("consistency")
@click.option("--from", "first", type=click.IntRange(min=1, max=2**62), required=True,
              help="The tree size of the checkpoint you kept.")
@click.option("--to", "second", type=click.IntRange(min=1, max=2**62),
              help="A later tree size (default: the latest checkpoint).")
def prove_consistency(first: int, second: int | None) -> None:
    """The proof that the later tree only appended to the one you kept."""
    ledger = open_ledger()
    try:
        proof = AuditLog(ledger).consistency(first, second)
    except (LogNotFoundError, TreeDamagedError) as error:
        raise click.ClickException(str(error)) from None
    finally:
        ledger.close()
    _echo_json(proof.as_dict())


@audit.command("verify-proof")
@click.argument("proof", type=click.File("r", encoding="utf-8"))
@click.option("--checkpoint", "note_file", type=click.File("r", encoding="utf-8"),
              required=True, help="The signed checkpoint the proof is against (the later "
              "one for a consistency proof).")
@click.option("--kept", type=click.File("r", encoding="utf-8"),
              help="Consistency: the earlier checkpoint you kept.")
@click.option("--key", "keys", multiple=True, required=True,
              help="The log's public key NAME+ID+KEY (or a file holding it); repeatable.")
def verify_proof(proof: Any, note_file: Any, kept: Any, keys: tuple[str, ...]) -> None:
    """Verify an inclusion or consistency proof offline, against signed checkpoints."""
    trusted = _verifiers(keys)
    try:
        document = json.load(proof)
        later = open_checkpoint(note_file.read(), trusted)
        if "leaf_index" in document:
            check_inclusion_document(document, later)
            click.echo(f"ok: position {document.get('position')} is leaf "
                       f"{document['leaf_index']} of the checkpoint of {later.size} events")
        else:
            if kept is None:
                raise click.UsageError("a consistency proof needs --kept")
            earlier = open_checkpoint(kept.read(), trusted)
            check_consistency_document(document, earlier, later)
            click.echo(f"ok: the checkpoint of {later.size} events only appended to the one "
                       f"of {earlier.size} you kept")
    except (ProofError, ValueError) as error:
        click.echo(f"BROKEN: {error}")
        sys.exit(1)


@audit.command("witness")
@click.option("--key-file", type=click.Path(dir_okay=False), required=True,
              help="Your witness key (an Ed25519 seed, URL-safe base64); made when missing.")
@click.option("--name", required=True, help="Your witness key's name, e.g. auditor.example/w1.")
@click.option("--log-key", "log_keys", multiple=True,
              help="The log's public key you trust, NAME+ID+KEY (or a file); repeatable.")
@click.option("--kept", type=click.Path(dir_okay=False),
              help="The last checkpoint you saw (a signed-note file); replaced by the one "
                   "you cosign.")
@click.option("--print-key", is_flag=True, help="Only print your witness public key.")
def witness(key_file: str, name: str, log_keys: tuple[str, ...], kept: str | None,
            print_key: bool) -> None:
    """Cosign the latest checkpoint after checking the log only appended since the one you
    kept; the ledger keeps the cosignature beside the checkpoint."""
    signer = load_signer({"AUDIT_SIGNING_KEY_FILE": key_file, "AUDIT_ORIGIN": name})
    if print_key:
        click.echo(signer.verifier.vkey)
        return
    trusted = _verifiers(log_keys)
    if not trusted:
        raise click.UsageError("give the log's public key you trust: --log-key")
    ledger = open_ledger()
    try:
        log = AuditLog(ledger)
        latest = log.latest()
        if latest is None:
            raise click.ClickException("no checkpoint to witness yet")
        try:
            checkpoint = open_checkpoint(latest.note, trusted, log.origin)
            if kept is not None and Path(kept).is_file():
                earlier = open_checkpoint(Path(kept).read_text(encoding="utf-8"), trusted,
                                          log.origin)
                check_not_older(earlier, checkpoint)
                if earlier.size < checkpoint.size:
                    proof = log.consistency(earlier.size, checkpoint.size)
                    verify_consistency(earlier.size, checkpoint.size, proof.hashes,
                                       earlier.root, checkpoint.root)
        except (ProofError, LogNotFoundError, TreeDamagedError) as error:
            click.echo(f"BROKEN: not cosigned: {error}")
            sys.exit(1)
        text = latest.note[:latest.note.index("\n\n") + 1]
        line = signer.signature_line(text)
        log.store.add_cosignature(latest.size, signer.verifier.vkey, line,
                                  datetime.now(UTC).isoformat())
        cosigned = log.note_with_cosignatures(latest)
    finally:
        ledger.close()
    if kept is not None:
        _write_atomically(kept, lambda handle: handle.write(cosigned))
    click.echo(f"cosigned the checkpoint of {checkpoint.size} events", err=True)
    click.echo(cosigned, nl=False)
