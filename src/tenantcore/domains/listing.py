"""The domain list, the API's hottest read, in one database round trip that also authenticates.

`GET /v1/tenants/{id}/domains` is what automations poll and dashboards refresh. FastAPI's
request path (routing, dependencies, a session, two statements, response-model validation)
cost ~3 ms of CPU a request; here the key check and the read are one prebuilt statement
(`repository.KEYED_LISTING`) run on the database driver directly, and the JSON is encoded
once. `api/fast_reads.py` serves it ahead of FastAPI's routing; the FastAPI route uses the
same `Listing` so both answer the same bytes.

- SQLite: a read-only `sqlite3` connection per process, queried on the event loop. In WAL
  mode a reader never waits for a writer, and a keyed read is tens of microseconds: cheaper
  than the hop to aiosqlite's thread and back, which under load waits on the GIL. If the
  database is ever busy (WAL recovery), the read goes through the async engine instead.
  Answers are kept until anything is committed anywhere (`PRAGMA data_version`), so a
  repeated read costs one pragma; the next read after any write, a rotated key's included,
  runs the statement again.
- PostgreSQL: asyncpg's own pool with the statement prepared once per connection. Answers
  are kept until a write could have changed them: triggers (migration 0009) NOTIFY
  `tenantcore_changed` with the tenant's row id when its domains change, `*` when keys or
  tenants do; this process LISTENs. Its own commits count at once (an engine event), so within
  one process a read after a write, a rotated key's included, is always fresh; another
  process's write is seen once its notification arrives (well under a millisecond on one host).
  While the listening connection is down nothing is served from the cache.
"""

from __future__ import annotations

import contextlib
import enum
import re
import sqlite3
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from tenantcore.accounts import keys
from tenantcore.domains.repository import KEYED_LISTING
from tenantcore.domains.schemas import DomainItem, DomainList
from tenantcore.errors import TenantCoreError, tenant_not_found

_MS_TENANT, _KEY = object(), object()  # where the request's values go among the bound ones
CACHED_ANSWERS = 10_000  # (key, tenant) answers kept; all dropped when there are more
LISTEN_RETRY = 5.0  # seconds between attempts to (re)connect the listening connection
CHANNEL = "tenantcore_changed"  # what the PostgreSQL triggers of migration 0009 NOTIFY
# A write that can change a list: any to API keys or tenants, and to domains one that inserts,
# deletes, or sets a column the list shows (the migration-0010 triggers' rule). Others (lease
# claims, the rate limiter's buckets, events) leave every kept answer standing: counting them
# emptied the cache ten times a second under load (p99 61 ms -> see bench/README.md).
_WRITE = re.compile(r"\s*(insert\s+into|update|delete\s+from)\s+\"?(\w+)", re.IGNORECASE)
_LISTED_SET = re.compile(
    r"\b(tenant_id|name|state|is_default|is_verified|spf_status|dkim_status|dmarc_status|mx_status|"
    r"last_checked|blocklist_status)\s*=",
    re.IGNORECASE,
)


def changes_a_list(statement: str) -> bool:
    found = _WRITE.match(statement)
    if found is None:
        return False
    verb, table = found.group(1).lower(), found.group(2).lower()
    if table in ("api_keys", "tenants"):
        return True
    if table != "domains":
        return False
    if verb != "update":
        return True
    assignments = re.split(r"\bwhere\b", statement[found.end() :], maxsplit=1, flags=re.IGNORECASE)[0]
    return _LISTED_SET.search(assignments) is not None


def _invalid_key() -> TenantCoreError:
    return TenantCoreError(401, "invalid_api_key", "The API key is not valid (unknown, revoked or malformed).")


class Listing:
    """Answers the domain list for (API key, tenant GUID) as JSON bytes."""

    def __init__(self, engine: AsyncEngine, secret: bytes) -> None:
        self.engine = engine
        self.secret = secret
        self.sqlite = engine.dialect.name == "sqlite"
        database = engine.url.database or ""
        # An in-memory database is private to its connection: only the engine can read it.
        self.sqlite_file = database if self.sqlite and database not in ("", ":memory:") else None
        compiled = KEYED_LISTING.compile(dialect=engine.dialect)
        state = compiled.construct_expanded_state({"ms_tenant_id": _MS_TENANT, "key_hmac": _KEY})
        self.sql = state.statement
        processors = {**compiled._bind_processors, **state.processors}  # e.g. the JSON path's
        self.params: list[Any] = []
        for name, value in zip(state.positiontup or (), state.positional_parameters, strict=True):
            if value is not _MS_TENANT and value is not _KEY:
                value = processors[name](value) if name in processors else value
                value = value.value if isinstance(value, enum.Enum) else value
            self.params.append(value)
        self._sync: sqlite3.Connection | None = None
        self._pool: Any = None
        # Kept answers: (key digest, tenant GUID) -> (seq when read, tenant row, JSON). One
        # counter orders reads and writes: an answer stands while no write to its tenant (or
        # to everything) was counted after it was read.
        self._answers: dict[tuple[str, str], tuple[int, str, bytes]] = {}
        self._seq = 0
        self._all_changed = 0
        self._changed: dict[str, int] = {}
        self._version: int | None = None  # SQLite's data_version when last looked at
        self._listening = False  # PostgreSQL: whether this process hears every write
        self._listener: Any = None
        self._listen_after = 0.0  # when to (re)connect the listener, if it is down
        self._dsn = ""
        if not self.sqlite:
            _count_own_commits(engine, self)

    async def read(self, token: str, ms_tenant_id: str) -> bytes:
        """The list's JSON; a 401 when no live key matches, a 404 when the key's account has
        no such tenant in the key's mode (the same answers as the FastAPI dependencies)."""
        if keys.mode_of(token) is None:
            raise _invalid_key()
        digest = keys.digest(self.secret, token)
        caching = self._caching()
        seen = self._seq  # taken before the query: an answer is never filed as newer than it is
        if caching and (kept := self._answers.get((digest, ms_tenant_id))) is not None:
            read_at, tenant_row, answer = kept
            if read_at >= self._all_changed and read_at >= self._changed.get(tenant_row, 0):
                return answer
        args = [ms_tenant_id if p is _MS_TENANT else digest if p is _KEY else p for p in self.params]
        rows = await (self._read_sqlite(args) if self.sqlite else self._read_postgres(args))
        if not rows:
            raise _invalid_key()
        if rows[0][1] is None:
            raise tenant_not_found(ms_tenant_id)
        answer = encode(ms_tenant_id, rows, self.sqlite)
        if caching:
            if len(self._answers) >= CACHED_ANSWERS:
                self._answers.clear()
            self._answers[(digest, ms_tenant_id)] = (seen, rows[0][1], answer)
        return answer

    def changed(self, tenant_row: str | None = None) -> None:
        """Something was written: one tenant's domains, or (None) anything at all."""
        self._seq += 1
        if tenant_row is None:
            self._all_changed = self._seq
        else:
            self._changed[tenant_row] = self._seq

    def _caching(self) -> bool:
        """Whether kept answers may be served now (and new ones kept)."""
        if self.sqlite_file is not None:
            version = self._data_version()
            if version != self._version:
                self._version = version
                self.changed()
            return version is not None
        return self._listening

    def _data_version(self) -> int | None:
        """SQLite's count of commits by other connections, any process (`PRAGMA data_version`):
        unchanged means nothing anywhere was written since, so an answer made at this version
        is still exact (the key still live, the rows the same). None: busy."""
        assert self.sqlite_file is not None
        try:
            return int(self._connection(self.sqlite_file).execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.OperationalError:
            return None

    async def _read_sqlite(self, args: list[Any]) -> Sequence[Sequence[Any]]:
        if self.sqlite_file is not None:
            with contextlib.suppress(sqlite3.OperationalError):
                return self._connection(self.sqlite_file).execute(self.sql, args).fetchall()
        # In memory, or busy (a WAL recovery holds it): not worth blocking the loop for; the
        # engine's pool waits on its own thread. Raw values either way (no type processing).
        async with self.engine.connect() as connection:
            result = await connection.exec_driver_sql(self.sql, tuple(args))
            return result.all()

    def _connection(self, path: str) -> sqlite3.Connection:
        if self._sync is None:
            connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0, check_same_thread=False)
            connection.execute("PRAGMA query_only=1")
            self._sync = connection
        return self._sync

    async def _read_postgres(self, args: list[Any]) -> Sequence[Sequence[Any]]:
        if self._pool is None:
            import asyncpg

            url = make_url(self.engine.url.render_as_string(hide_password=False)).set(drivername="postgresql")
            self._dsn = url.render_as_string(hide_password=False)
            # No reset on release: these connections only ever run this one read, and asyncpg's
            # default reset is a second round trip per request (it halved the rate).
            self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=8, reset=_keep_session)
        if self._listener is None and time.monotonic() >= self._listen_after:
            self._listen_after = time.monotonic() + LISTEN_RETRY  # one attempt at a time, not one per request
            await self._listen(self._dsn)
        async with self._pool.acquire() as connection:
            return await connection.fetch(self.sql, *args)

    async def _listen(self, dsn: str) -> None:
        import asyncpg

        def heard(_connection: object, _pid: int, _channel: str, payload: str) -> None:
            self.changed(None if payload == "*" else payload)

        def lost(_connection: object) -> None:
            self._listening = False  # until a new listener is up, every read goes to the database
            self._listener = None

        try:
            listener = await asyncpg.connect(dsn)
            await listener.add_listener(CHANNEL, heard)
            listener.add_termination_listener(lost)
        except (OSError, asyncpg.PostgresError):
            return  # reads still work, uncached; the next pool start tries again
        self._listener = listener
        self.changed()  # whatever was written before we listened
        self._listening = True

    async def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self._listener is not None:
            self._listening = False
            await self._listener.close()
            self._listener = None


def encode(ms_tenant_id: str, rows: Sequence[Sequence[Any]], raw_sqlite: bool) -> bytes:
    """Rows of KEYED_LISTING (account, tenant row, then the listed columns) as the response."""
    return to_json(ms_tenant_id, [row[2:] for row in rows if row[2] is not None], raw_sqlite)


def to_json(ms_tenant_id: str, items: Sequence[Sequence[Any]], raw_sqlite: bool = False) -> bytes:
    """Rows of the listed columns as `DomainList` JSON, encoded once by pydantic (as fast as a
    hand-written `json.dumps` of the same dicts, measured, and it keeps the response model)."""
    domains = []
    for item in items:
        checked = item[8]
        if raw_sqlite and checked is not None:  # SQLite keeps UTC as text without an offset
            checked = datetime.fromisoformat(checked).replace(tzinfo=UTC)
        domains.append(dict(zip(_FIELDS, (*item[:8], checked, item[9]), strict=True)))
    listing = DomainList.model_validate({"tenant_id": ms_tenant_id, "domains": domains, "count": len(domains)})
    return listing.__pydantic_serializer__.to_json(listing)


def _count_own_commits(engine: AsyncEngine, listing: Listing) -> None:
    """This process's own writes count the moment they are committed (before the response that
    says so is sent), not when their notification comes back. Counted again when the
    connection goes back to the pool, after the commit has landed: a read that began while
    the commit was in flight may have seen the old rows, and must not stand."""

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _wrote(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if changes_a_list(statement):
            conn.info["tenantcore_wrote"] = True

    @event.listens_for(engine.sync_engine, "commit")
    def _committing(conn: Any) -> None:
        if conn.info.pop("tenantcore_wrote", False):
            conn.info["tenantcore_committed"] = True
            listing.changed()

    @event.listens_for(engine.sync_engine, "rollback")
    def _rolled_back(conn: Any) -> None:
        conn.info.pop("tenantcore_wrote", None)

    @event.listens_for(engine.sync_engine, "checkin")
    def _landed(_dbapi: Any, record: Any) -> None:
        if record.info.pop("tenantcore_committed", False):
            listing.changed()


async def _keep_session(connection: object) -> None:
    return None


_FIELDS = tuple(DomainItem.model_fields)
