"""A c-ares channel watched by the running asyncio loop, through the C bindings pycares builds.

pycares ships c-ares together with cffi bindings of c-ares's own API (`pycares._cares`). The
channel here calls that API directly instead of going through pycares's `Channel`, for two
reasons, both measured (bench/README.md, "c-ares without pycares's wrapper"):

- Speed. pycares's `Channel.query` takes a lock, a context manager, a cffi handle and a dict
  entry per query, and its callback turns every record of every section into Python objects.
  A check reads a few fields of the answer section, so that is all read here; the bare
  channel answers about twice the queries a second.
- Fresh answers. c-ares caches answers for their TTL (`ARES_OPT_QUERY_CACHE`, on by default)
  and pycares gives no way to turn that off. A health check must see what DNS says now, so
  the cache is off here (a maximum TTL of 0); c-ares then also stops copying every answer for
  a cache that would not keep it.

The bindings are pycares's own module, so pycares is pinned in pyproject and
`tests/dnshealth/test_lookup.py` drives this channel against real servers on loopback.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import weakref
from collections.abc import Callable

import pycares
from pycares import _cares

from tenantcore.dnshealth.answers import Answer, Outcome

_ffi, _lib = _cares.ffi, _cares.lib

# ares.h's ARES_OPT_QUERY_CACHE: pycares's bindings declare the `qcache_max_ttl` option but not
# the bit that makes c-ares read it.
_OPT_QUERY_CACHE = 1 << 21

RECEIVE_BUFFER = 4 * 1024 * 1024

_QTYPES = {
    "A": _lib.ARES_REC_TYPE_A,
    "CNAME": _lib.ARES_REC_TYPE_CNAME,
    "MX": _lib.ARES_REC_TYPE_MX,
    "NS": _lib.ARES_REC_TYPE_NS,
    "TXT": _lib.ARES_REC_TYPE_TXT,
}
QUERY_TYPES = frozenset(_QTYPES)

_ERRORS = {
    pycares.errno.ARES_ENOTFOUND: Outcome.NXDOMAIN,
    pycares.errno.ARES_ENODATA: Outcome.NODATA,
    pycares.errno.ARES_ESERVFAIL: Outcome.SERVFAIL,
    pycares.errno.ARES_ETIMEOUT: Outcome.TIMEOUT,
    pycares.errno.ARES_EREFUSED: Outcome.REFUSED,
    pycares.errno.ARES_ECONNREFUSED: Outcome.UNREACHABLE,
}

_ANSWER = _lib.ARES_SECTION_ANSWER
_CNAME = _lib.ARES_REC_TYPE_CNAME
_SOCKET_BAD = _lib.ARES_SOCKET_BAD


@functools.cache
def _strerror(status: int) -> str:
    # Cached: nearly every blocklist answer is an NXDOMAIN, and each would build the text anew.
    return pycares.errno.strerror(status)


def failure(name: str, rtype: str, status: int) -> Answer:
    """The answer for a query c-ares ended with `status` (an ARES_E* code)."""
    return Answer(name, rtype, _ERRORS.get(status, Outcome.ERROR), detail=_strerror(status))


def _host(rr: object, key: int) -> str:
    return _ffi.string(_lib.ares_dns_rr_get_str(rr, key)).decode("utf-8", "replace").rstrip(".").lower()


def _txt(rr: object) -> str:
    # One TXT record is a list of character-strings, read as their concatenation (RFC 7208 §3.3).
    size = _ffi.new("size_t *")
    chunks = []
    for i in range(_lib.ares_dns_rr_get_abin_cnt(rr, _lib.ARES_RR_TXT_DATA)):
        data = _lib.ares_dns_rr_get_abin(rr, _lib.ARES_RR_TXT_DATA, i, size)
        chunks.append(_ffi.buffer(data, size[0])[:])
    return b"".join(chunks).decode("utf-8", errors="replace")


def read_answer(name: str, rtype: str, record: object) -> Answer:
    """The records of the type asked for in a successful reply's answer section; a CNAME met
    on the way to another type becomes `alias`."""
    wanted = _QTYPES[rtype]
    values: list[str] = []
    mx: list[tuple[int, str]] = []
    alias = None
    for i in range(_lib.ares_dns_record_rr_cnt(record, _ANSWER)):
        rr = _lib.ares_dns_record_rr_get_const(record, _ANSWER, i)
        kind = _lib.ares_dns_rr_get_type(rr)
        if kind == _CNAME and wanted != _CNAME:
            alias = alias or _host(rr, _lib.ARES_RR_CNAME_CNAME)
        elif kind != wanted:
            continue  # e.g. a signature the server added: not what was asked
        elif rtype == "TXT":
            values.append(_txt(rr))
        elif rtype == "MX":
            host = _host(rr, _lib.ARES_RR_MX_EXCHANGE)
            mx.append((_lib.ares_dns_rr_get_u16(rr, _lib.ARES_RR_MX_PREFERENCE), host))
            values.append(host)
        elif rtype == "CNAME":
            values.append(_host(rr, _lib.ARES_RR_CNAME_CNAME))
        elif rtype == "NS":
            values.append(_host(rr, _lib.ARES_RR_NS_NSDNAME))
        else:
            address = _lib.ares_dns_rr_get_addr(rr, _lib.ARES_RR_A_ADDR)
            values.append(socket.inet_ntop(socket.AF_INET, _ffi.buffer(address, 4)[:]))
    return Answer(name, rtype, Outcome.OK, tuple(values), tuple(sorted(mx)), alias)


def _addresses(result: object) -> tuple[str, ...]:
    found: list[str] = []
    node = result.nodes  # type: ignore[attr-defined]
    while node != _ffi.NULL:
        if node.ai_family == socket.AF_INET:
            sin = _ffi.cast("struct sockaddr_in *", node.ai_addr)
            found.append(socket.inet_ntop(socket.AF_INET, _ffi.buffer(_ffi.addressof(sin.sin_addr), 4)[:]))
        elif node.ai_family == socket.AF_INET6:
            sin6 = _ffi.cast("struct sockaddr_in6 *", node.ai_addr)
            text = socket.inet_ntop(socket.AF_INET6, _ffi.buffer(_ffi.addressof(sin6.sin6_addr), 16)[:])
            found.append(f"{text}%{sin6.sin6_scope_id}" if sin6.sin6_scope_id else text)
        node = node.ai_next
    # One entry per address; IPv4 first: c-ares answers "localhost" with ::1 first even where
    # the hosts file has only 127.0.0.1 (and a receiver listening there), and a container
    # often has no IPv6 route at all, while most names with an AAAA have an A too.
    unique = list(dict.fromkeys(found))
    return tuple(sorted(unique, key=lambda address: ":" in address))


class HostNotFound(Exception):
    """A host name that did not resolve: the text says why (no such name, timeout ...)."""


async def host_addresses(
    host: str, *, per_try: float = 2.0, tries: int = 2, servers: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """`host`'s addresses, looked up on the running loop (no thread, so a name whose servers
    never answer holds nothing but its own caller, and cancelling the caller ends it); the
    system's resolvers and hosts file unless `servers` are given, each try waiting `per_try`
    seconds. Raises HostNotFound."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[tuple[int, tuple[str, ...]]] = loop.create_future()

    def done(status: int, found: tuple[str, ...]) -> None:
        if not future.done():
            future.set_result((status, found))

    channel = LoopChannel(servers, timeout=per_try, tries=tries, search=True)
    try:
        channel.addresses(host, done)
        status, found = await future
    finally:
        channel.close()
    if status != _lib.ARES_SUCCESS or not found:
        raise HostNotFound(_strerror(status) if status != _lib.ARES_SUCCESS else "no address")
    return found


Deliver = Callable[[Answer], None]


def _reraise(exc: BaseException) -> None:
    raise exc


class LoopChannel:
    """One c-ares channel (its servers, its sockets) whose sockets and timeouts the running
    asyncio loop watches. `query` hands every question's `Answer` to its callback on the loop,
    exactly once, whatever happens: an answer, a failure, `close()`.

    A callback may close the channel: c-ares 1.34 must not be destroyed while one of its own
    calls is on the stack (`ares_destroy(3)`), so `_depth` counts those calls and the
    outermost one destroys the channel as it returns."""

    _depth = 0

    def __init__(self, servers: tuple[str, ...], *, timeout: float, tries: int, search: bool = False) -> None:
        self._loop = asyncio.get_running_loop()
        self._readers: set[int] = set()
        self._writers: set[int] = set()
        self._timer: asyncio.TimerHandle | None = None
        # The timer never sleeps past one try's timeout (nor a second): a query sent after it
        # was armed then never has its deadline pass unnoticed.
        self._longest = min(1.0, timeout)
        self._closed = False
        # Questions in flight by token: c-ares hands the token back with the reply.
        self._pending: dict[int, tuple[str, str, Deliver]] = {}
        self._resolving: dict[int, Callable[[int, tuple[str, ...]], None]] = {}
        self._token = 0
        this = weakref.ref(self)  # c-ares's callbacks must not keep their channel alive

        def on_socket_state(_data: object, fd: int, readable: int, writable: int) -> None:
            channel = this()
            if channel is not None:
                channel._watch(fd, bool(readable), bool(writable))

        def on_reply(arg: object, status: int, _timeouts: int, record: object) -> None:
            channel = this()
            if channel is not None:
                channel._reply(int(_ffi.cast("uintptr_t", arg)), status, record)

        def on_addresses(arg: object, status: int, _timeouts: int, result: object) -> None:
            # Nothing may propagate into cffi: the caller would wait for an answer never given.
            try:
                found = _addresses(result) if status == _lib.ARES_SUCCESS and result != _ffi.NULL else ()
            except Exception:
                status, found = pycares.errno.ARES_EBADRESP, ()
            finally:
                if result != _ffi.NULL:
                    _lib.ares_freeaddrinfo(result)
            channel = this()
            if channel is not None:
                channel._resolved(int(_ffi.cast("uintptr_t", arg)), status, found)

        # Kept on the instance: c-ares holds bare pointers to them for the channel's life.
        self._on_socket_state = _ffi.callback("ares_sock_state_cb", on_socket_state)
        self._on_reply = _ffi.callback("ares_callback_dnsrec", on_reply)
        self._on_addresses = _ffi.callback("ares_addrinfo_callback", on_addresses)
        options = _ffi.new("struct ares_options *")
        # A check asks for names exactly as given; a host name (a webhook's) is looked up as the
        # system would, search domains included (a Kubernetes service's short name).
        options.flags = pycares.ARES_FLAG_EDNS | (0 if search else pycares.ARES_FLAG_NOSEARCH)
        options.timeout = int(timeout * 1000)
        options.tries = tries
        options.socket_receive_buffer_size = RECEIVE_BUFFER
        options.sock_state_cb = self._on_socket_state
        options.qcache_max_ttl = 0
        mask = (
            _lib.ARES_OPT_FLAGS
            | _lib.ARES_OPT_TIMEOUTMS
            | _lib.ARES_OPT_TRIES
            | _lib.ARES_OPT_SOCK_RCVBUF
            | _lib.ARES_OPT_SOCK_STATE_CB
            | _OPT_QUERY_CACHE
        )
        channel = _ffi.new("ares_channel *")
        status = _lib.ares_init_options(channel, options, mask)
        if status != _lib.ARES_SUCCESS:
            raise pycares.AresError(status, _strerror(status))
        self._channel = channel
        self._qid = _ffi.new("unsigned short *")
        if servers:
            status = _lib.ares_set_servers_csv(channel[0], ",".join(servers).encode("ascii"))
            if status != _lib.ARES_SUCCESS:
                self._destroy()
                raise pycares.AresError(status, f"bad nameservers {servers!r}: {_strerror(status)}")

    def query(self, name: str, rtype: str, deliver: Deliver) -> None:
        """Ask for `rtype` at `name`; `deliver(answer)` follows on the loop (or at once, for a
        name c-ares refuses to send)."""
        qtype = _QTYPES[rtype]  # an unknown type is the caller's bug: KeyError, nothing started
        if self._closed:
            deliver(Answer(name, rtype, Outcome.ERROR, detail="channel closed"))
            return
        try:
            encoded = name.encode("ascii")
        except UnicodeError:
            deliver(failure(name, rtype, pycares.errno.ARES_EBADNAME))
            return
        self._token += 1
        token = self._token
        self._pending[token] = (name, rtype, deliver)
        self._depth += 1
        try:
            status = _lib.ares_query_dnsrec(
                self._channel[0],
                encoded,
                _lib.ARES_CLASS_IN,
                qtype,
                self._on_reply,
                _ffi.cast("void *", token),
                self._qid,
            )
            if status != _lib.ARES_SUCCESS and token in self._pending:  # refused before it was sent
                del self._pending[token]
                deliver(failure(name, rtype, status))
        finally:
            self._leave()

    def addresses(self, host: str, done: Callable[[int, tuple[str, ...]], None]) -> None:
        """The addresses of `host` for a TCP connection, as getaddrinfo(3) finds them (the
        hosts file, then DNS; IPv4 and IPv6) but without a thread: `done(status, addresses)`
        follows on the loop, with ARES_SUCCESS or an ARES_E* code."""
        if self._closed:
            done(pycares.errno.ARES_ECANCELLED, ())
            return
        try:
            encoded = host.encode("idna")
        except UnicodeError:
            done(pycares.errno.ARES_EBADNAME, ())
            return
        self._token += 1
        token = self._token
        self._resolving[token] = done
        hints = _ffi.new("struct ares_addrinfo_hints *")
        hints.ai_socktype = socket.SOCK_STREAM
        self._depth += 1
        try:
            arg = _ffi.cast("void *", token)
            _lib.ares_getaddrinfo(self._channel[0], encoded, _ffi.NULL, hints, self._on_addresses, arg)
        finally:
            self._leave()

    def _resolved(self, token: int, status: int, found: tuple[str, ...]) -> None:
        done = self._resolving.pop(token, None)
        if done is None:
            return
        try:
            done(status, found)
        except Exception as exc:
            self._loop.call_exception_handler({"message": "address lookup callback failed", "exception": exc})
        except BaseException as exc:
            self._loop.call_soon(_reraise, exc)

    def _reply(self, token: int, status: int, record: object) -> None:
        entry = self._pending.pop(token, None)
        if entry is None:
            return
        name, rtype, deliver = entry
        # Nothing may propagate from here: cffi would print it and drop it inside c-ares.
        try:
            if status == _lib.ARES_SUCCESS and record != _ffi.NULL:
                answer = read_answer(name, rtype, record)
            else:
                answer = failure(name, rtype, status if status != _lib.ARES_SUCCESS else pycares.errno.ARES_EBADRESP)
        except Exception as exc:
            answer = Answer(name, rtype, Outcome.ERROR, detail=f"unreadable answer: {exc!r}")
        except BaseException as exc:  # e.g. Ctrl-C landing here: answer, then interrupt the loop
            answer = Answer(name, rtype, Outcome.ERROR, detail="interrupted")
            self._loop.call_soon(_reraise, exc)
        try:
            deliver(answer)
        except Exception as exc:
            self._loop.call_exception_handler({"message": "DNS answer callback failed", "exception": exc})
        except BaseException as exc:
            self._loop.call_soon(_reraise, exc)

    def _watch(self, fd: int, readable: bool, writable: bool) -> None:
        if self._closed:  # c-ares closes its sockets as the channel is destroyed
            return
        loop = self._loop
        if readable and fd not in self._readers:
            loop.add_reader(fd, self._process, fd, _SOCKET_BAD)
            self._readers.add(fd)
        elif not readable and fd in self._readers:
            loop.remove_reader(fd)
            self._readers.discard(fd)
        if writable and fd not in self._writers:
            loop.add_writer(fd, self._process, _SOCKET_BAD, fd)
            self._writers.add(fd)
        elif not writable and fd in self._writers:
            loop.remove_writer(fd)
            self._writers.discard(fd)
        if self._readers or self._writers:
            if self._timer is None:
                self._arm_timer()
        elif self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _process(self, read_fd: int, write_fd: int) -> None:
        if self._closed:
            return
        self._depth += 1
        try:
            _lib.ares_process_fd(self._channel[0], read_fd, write_fd)
        finally:
            self._leave()

    def _leave(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._closed and self._channel is not None:
            self._destroy()  # closed by a callback while c-ares was still on the stack

    def _arm_timer(self) -> None:
        # One timer at most: c-ares may open or close sockets while the timer itself runs
        # (`_watch` then arms one), and a second, untracked timer would outlive `close()`.
        if self._timer is not None:
            self._timer.cancel()
        # c-ares says when its next retry or timeout falls due, up to `_longest`.
        seconds = int(self._longest)
        longest = _ffi.new("struct timeval *", (seconds, int((self._longest - seconds) * 1e6)))
        shorter = _ffi.new("struct timeval *")  # kept alive: c-ares may return a pointer to it
        due = _lib.ares_timeout(self._channel[0], longest, shorter)
        delay = 1.0 if due == _ffi.NULL else due.tv_sec + due.tv_usec / 1e6
        self._timer = self._loop.call_later(max(delay, 0.005), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._closed:
            return
        self._process(_SOCKET_BAD, _SOCKET_BAD)
        if (self._readers or self._writers) and self._timer is None:
            self._arm_timer()

    def close(self) -> None:
        """Fail what is still in flight (`ARES_ECANCELLED`) and free the sockets."""
        if self._closed:
            return
        self._closed = True  # first: a close() from a callback is a no-op, a query() fails at once
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for fd in self._readers:
            self._loop.remove_reader(fd)
        for fd in self._writers:
            self._loop.remove_writer(fd)
        self._readers.clear()
        self._writers.clear()
        if self._depth == 0:
            self._destroy()

    def _destroy(self) -> None:
        self._closed = True
        channel, self._channel = self._channel, None
        if channel is not None:
            self._depth += 1  # for good: nothing the callbacks below do re-enters here
            _lib.ares_cancel(channel[0])
            _lib.ares_destroy(channel[0])
        for name, rtype, deliver in self._pending.values():  # none after a cancel; kept safe
            deliver(Answer(name, rtype, Outcome.ERROR, detail="channel closed"))
        self._pending.clear()
        for done in self._resolving.values():
            done(pycares.errno.ARES_ECANCELLED, ())
        self._resolving.clear()

    def __del__(self) -> None:
        # A channel dropped without close() has no query in flight while its loop runs (the
        # loop's reader and timer handles hold it); with the loop gone there is nobody left to
        # answer, so only c-ares's side (its sockets, its memory) is freed.
        if getattr(self, "_channel", None) is not None:
            self._closed = True
            self._pending.clear()
            self._resolving.clear()
            _lib.ares_destroy(self._channel[0])
            self._channel = None
