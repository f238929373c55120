"""Webhook requests: Standard Webhooks signatures, and a POST that only goes where allowed.

Safety (a seller chooses the URL, so it must not make the ledger call into its own network):
- every address a host name resolves to is checked before a connection is opened, and the
  connection goes to the address that was checked (no second look-up to rebind);
- loopback, private, link-local, shared, multicast, reserved and cloud-metadata addresses
  are refused, unless WEBHOOK_ALLOW_LOOPBACK / WEBHOOK_ALLOW_PRIVATE_NETWORKS allow the
  first two kinds (metadata and link-local addresses are refused always);
- redirects are never followed (a 3xx is a permanent failure);
- at most MAX_RESPONSE_BYTES of an answer are read; the connection is dropped past that.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import http.client
import ipaddress
import secrets
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec asks for 24 to 64 random bytes
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "returns-ledger-webhooks/1"
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254"))
# Answers retried besides 5xx and network errors (Standard Webhooks: 408, 409, 429).
RETRIED_STATUSES = frozenset({408, 409, 429})
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeDestinationError(ValueError):
    """The URL's host is, or resolves to, an address the settings do not allow."""


def new_secret() -> str:
    """A signing secret in the Standard Webhooks form: whsec_ + base64 of random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature: HMAC-SHA256 over `id.timestamp.body`, keyed by the
    secret's base64-decoded part after `whsec_`."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def signature_header(secrets_: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """`webhook-signature`: one signature per valid secret, space-separated."""
    return " ".join(sign(s, msg_id, timestamp, body) for s in secrets_)


NAT64_PREFIXES = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for, which is the one to check: mapped
    (::ffff:a.b.c.d), NAT64 (64:ff9b::a.b.c.d, which a NAT64 gateway forwards to a.b.c.d,
    private or metadata ones too), 6to4 (2002:aabb:ccdd::) or IPv4-compatible (::a.b.c.d)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in prefix for prefix in NAT64_PREFIXES):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in IPV4_COMPATIBLE and int(address) > 1:  # not :: or ::1
        return ipaddress.IPv4Address(int(address))
    return None


@dataclass(frozen=True)
class DestinationPolicy:
    """Which addresses a webhook may reach."""

    allow_loopback: bool = False
    allow_private_networks: bool = False

    def check_address(self, address: Address) -> None:
        if isinstance(address, ipaddress.IPv6Address):
            address = embedded_ipv4(address) or address
        if address in METADATA_ADDRESSES or address.is_link_local:
            raise UnsafeDestinationError(f"{address} is a link-local or metadata address")
        if address.is_loopback:
            if self.allow_loopback:
                return
            raise UnsafeDestinationError(f"{address} is a loopback address "
                                         "(WEBHOOK_ALLOW_LOOPBACK=yes allows it)")
        if address.is_global and not address.is_multicast:
            return
        if address.is_private and not (address.is_unspecified or address.is_reserved
                                       or address.is_multicast) and \
                self.allow_private_networks:
            return
        raise UnsafeDestinationError(f"{address} is not a public address "
                                     "(WEBHOOK_ALLOW_PRIVATE_NETWORKS=yes allows private ones)")

    def resolve(self, host: str, port: int) -> list[Address]:
        """The host's addresses, every one of them allowed (else UnsafeDestinationError)."""
        host = host.strip("[]")
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            found: list[Address] = [literal]
        else:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (socket.gaierror, UnicodeError) as error:
                raise OSError(f"cannot resolve {host}: {error}") from None
            found = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        for address in found:
            self.check_address(address)
        return found

    def check_url(self, url: str) -> None:
        """Refuse a URL whose host is (or resolves to) a refused address."""
        parts = urlsplit(url)
        self.resolve(parts.hostname or "", parts.port or _default_port(parts.scheme))


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


@dataclass(frozen=True)
class Answer:
    """What one attempt came to: a status code, or an error (network, timeout, refused)."""

    status: int | None
    duration_ms: float
    error: str | None = None
    retry_after: float | None = None
    refused: bool = False  # the destination is not allowed: never retried

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        if self.refused:
            return False
        if self.status is None:
            return True  # network error or timeout
        return self.status >= 500 or self.status in RETRIED_STATUSES


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Retry-After as seconds from now: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(parsedate_to_datetime(value).timestamp() - now, 0.0)
    except (TypeError, ValueError, IndexError):
        return None


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the address that was checked, not to a fresh look-up of the host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]  # set by HTTPSConnection


class _Deadlines:
    """Ends the requests that outlive their deadline: a socket's timeout bounds each read,
    not a whole answer, which a receiver sending a byte at a time could stretch to hours.
    One thread for every request of a client; it shuts the late one's socket down."""

    def __init__(self) -> None:
        self._watched: dict[int, tuple[float, http.client.HTTPConnection]] = {}
        self._expired: set[int] = set()
        self._next = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, conn: http.client.HTTPConnection, seconds: float) -> int:
        with self._lock:
            self._next += 1
            token = self._next
            idle = not self._watched
            self._watched[token] = (time.monotonic() + seconds, conn)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="webhook-deadlines",
                                                daemon=True)
                self._thread.start()
        if idle:  # else it wakes for an earlier deadline (every one is now + timeout)
            self._wake.set()
        return token

    def done(self, token: int) -> bool:
        """Stop watching; True when the request was ended for being late."""
        with self._lock:
            self._watched.pop(token, None)
            if token in self._expired:
                self._expired.discard(token)
                return True
            return False

    def _run(self) -> None:
        while True:
            self._wake.clear()  # before looking: a request watched from here on wakes it
            with self._lock:
                now = time.monotonic()
                for token, (deadline, conn) in self._watched.items():
                    if deadline <= now:
                        self._expired.add(token)
                        sock = conn.sock
                        if sock is not None:  # none yet while connecting: next look
                            with contextlib.suppress(OSError):
                                sock.shutdown(socket.SHUT_RDWR)
                soonest = min((d for d, _ in self._watched.values() if d > now),
                              default=now + 1.0)
            self._wake.wait(min(max(soonest - now, 0.01), 1.0))


class WebhookClient:
    """POSTs with a per-request timeout (connecting, sending and the whole answer),
    keeping one idle connection per destination."""

    def __init__(self, policy: DestinationPolicy, timeout: float) -> None:
        self.policy = policy
        self.timeout = timeout
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._deadlines = _Deadlines()

    def _connection(self, scheme: str, host: str, port: int) -> http.client.HTTPConnection:
        with self._lock:
            idle = self._idle.get((scheme, host, port))
            if idle:
                return idle.pop()
        address = str(self.policy.resolve(host, port)[0])
        kind = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
        return kind(host, port, address, self.timeout)

    def _keep(self, key: tuple[str, str, int], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            self._idle.setdefault(key, []).append(conn)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        """One attempt; never raises."""
        started = time.perf_counter()
        key, path = _target(url)
        try:
            conn = self._connection(*key)
        except UnsafeDestinationError as error:
            return Answer(None, _ms(started), f"refused: {error}", refused=True)
        except OSError as error:
            return Answer(None, _ms(started), f"{type(error).__name__}: {error}")
        watch = self._deadlines.watch(conn, self.timeout)
        try:
            conn.request("POST", path, body=body, headers={
                **headers, "Content-Type": "application/json", "User-Agent": USER_AGENT,
                "Content-Length": str(len(body))})
            response = conn.getresponse()
            known = response.length is not None and response.length <= MAX_RESPONSE_BYTES
            data = response.read() if known else response.read(MAX_RESPONSE_BYTES + 1)
            whole = len(data) <= MAX_RESPONSE_BYTES and response.isclosed()
            retry_after = retry_after_seconds(response.getheader("Retry-After"), time.time())
            answer = Answer(response.status, _ms(started), None, retry_after)
        except (OSError, http.client.HTTPException) as error:
            late = self._deadlines.done(watch)
            conn.close()
            if late:
                return Answer(None, _ms(started), f"timeout: no whole answer within "
                                                  f"{self.timeout:g} s")
            kind = "timeout" if isinstance(error, TimeoutError) else type(error).__name__
            return Answer(None, _ms(started), f"{kind}: {error}"[:500])
        if self._deadlines.done(watch):
            # Shut down when late: what was read may be cut short (an end of the headers
            # where the receiver had sent none), so it is a timeout, sent again.
            conn.close()
            return Answer(None, _ms(started), f"timeout: no whole answer within "
                                              f"{self.timeout:g} s")
        if whole and not response.will_close:
            self._keep(key, conn)
        else:
            conn.close()
        return answer

    def close(self) -> None:
        with self._lock:
            for connections in self._idle.values():
                for conn in connections:
                    conn.close()
            self._idle.clear()


@functools.lru_cache(maxsize=4096)
def _target(url: str) -> tuple[tuple[str, str, int], str]:
    """((scheme, host, port), path?query) of a URL."""
    parts = urlsplit(url)
    key = (parts.scheme, parts.hostname or "", parts.port or _default_port(parts.scheme))
    return key, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def describe(answer: Any) -> str:
    """A short line for the delivery log: the status, or the error."""
    return f"HTTP {answer.status}" if answer.status is not None else str(answer.error)
