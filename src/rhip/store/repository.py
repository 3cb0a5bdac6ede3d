"""The repository: the one door to stored resources.

``Repository.unit(ctx)`` opens a unit of work (one database transaction) bound to a request context.
Every public method of ``Unit`` first asks the policy (authorisation, later consent and audit) and only
then touches data, so REST handlers, bundles, operations and adapters cannot bypass it. Validation,
index rows and history are produced here, on every write path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, Engine, exists, false, insert, select, true, tuple_
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from rhip.fhir import json as fjson
from rhip.fhir.errors import FhirError, OutcomeIssue
from rhip.fhir.model import is_resource_type, resource_types
from rhip.fhir.search.parse import SearchQuery
from rhip.fhir.validation import validate_resource
from rhip.profiles import ProfileIssue
from rhip.profiles import validate as profile_findings
from rhip.security.audit import Collector, load_key, outcome_for, record_from
from rhip.security.context import RequestContext
from rhip.security.fields import configure_from, seal_json
from rhip.security.policy import Access, Policy, RolePolicy, RowScope
from rhip.settings import Settings
from rhip.store import access as row_access
from rhip.store import audit_log, dialect
from rhip.store.access import RowAccess, scope_params
from rhip.store.access import predicate as access_predicate
from rhip.store.access_tables import access_grants
from rhip.store.care_links import sync_care_links
from rhip.store.consent_rules import sync_consents
from rhip.store.ids import new_id as make_id
from rhip.store.index import index_rows
from rhip.store.schema import resource_versions, resources
from rhip.store.search.execute import SearchResult, decode_cursor, encode_cursor, run_search
from rhip.store.search.terms import Env
from rhip.store.sources import SourceSettings
from rhip.store.write import NewVersion, flush

__all__ = ["Repository", "Stored", "Unit", "WriteHook", "format_instant"]


WriteHook = Callable[["Unit", list[NewVersion]], None]
"""Sees every batch of versions a unit writes (rids assigned), inside the unit's transaction."""


def format_instant(ms: int) -> str:
    """FHIR instant (UTC, millisecond precision) for an epoch-milliseconds value."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Stored:
    """One stored version as read from the database; ``content`` is the JSON text (None if deleted)."""

    rtype: str
    id: str
    version: int
    lu: int
    content: str | None
    method: str = "PUT"
    rid: int = 0

    @property
    def deleted(self) -> bool:
        return self.content is None

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    def resource(self) -> dict[str, Any]:
        if self.content is None:
            raise FhirError.gone(f"{self.rtype}/{self.id}")
        parsed: dict[str, Any] = fjson.loads(self.content)
        return parsed


@dataclass(slots=True)
class WriteResult:
    stored: Stored
    created: bool
    """True for 201 Created (new resource or update-as-create), False for 200 OK."""
    issues: list[OutcomeIssue] = field(default_factory=list)
    """China-profile findings accepted with the write (severity lowered to warning: it succeeded)."""


def outcome_issues(findings: list[ProfileIssue], *, accepted: bool) -> list[OutcomeIssue]:
    """OperationOutcome issues for profile findings; on an accepted write errors read as warnings."""
    out = []
    for f in findings:
        severity = "warning" if accepted and f.severity == "error" else f.severity
        out.append(OutcomeIssue(severity, f.code, f"{f.diagnostics} [{f.profile}]", f.text_zh, f.expression))
    return out


def profile_check(resource: dict[str, Any], strictness: str, today: date) -> list[ProfileIssue]:
    """China-profile findings under a source's strictness (decision 0012): none when ``off``; 422 with
    every finding when ``reject`` and one is an error; else the findings to keep with the write."""
    if strictness == "off":
        return []
    findings = profile_findings(resource, today)
    if strictness == "reject" and any(f.severity == "error" for f in findings):
        raise FhirError.invalid(outcome_issues(findings, accepted=False), status=422)
    return findings


def check_resource(resource: dict[str, Any]) -> None:
    """Structural validation (decision 0001); raise 400 listing every error found."""
    issues = validate_resource(resource)
    errors = [i for i in issues if i.severity in ("error", "fatal")]
    if errors:
        raise FhirError.invalid(
            [OutcomeIssue(i.severity, i.code, i.diagnostics, i.text_zh, i.expression) for i in errors]
        )


def build_version(
    rtype: str,
    id: str,
    version: int,
    resource: dict[str, Any],
    method: str,
    lu: int,
    *,
    base_url: str | None,
    tz: tzinfo,
) -> NewVersion:
    """The stored form of a version: server id and meta set, JSON text, index rows (no database)."""
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = format_instant(lu)
    body: dict[str, Any] = {"resourceType": rtype, "id": id, "meta": meta}
    for key, value in resource.items():
        if key not in body:
            body[key] = value
    rows = index_rows(body, base_url=base_url, tz=tz)
    text = fjson.dumps(body)
    stored = seal_json(body, text)
    content = text.decode()
    return NewVersion(rtype, id, version, lu, method, content, rows, sealed=None if stored is text else stored.decode())


class Repository:
    """Engine-level entry point; cheap to share across threads."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        policy: Policy | None = None,
        hooks: Sequence[WriteHook] = (),
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.policy: Policy = policy or RolePolicy()
        self.write_hooks: list[WriteHook] = [sync_consents, sync_care_links, *hooks]
        """Called after versions are written, inside the same transaction (e.g. the master person
        index matching every Patient write); a hook that raises aborts the whole unit."""
        self.tz = settings.tz()
        self.base_url = settings.base_url.rstrip("/") or None
        self.sources = SourceSettings(engine, settings.validation_default)
        self.audit_key = load_key(settings.audit_key, settings.data_dir)
        audit_log.use_key(engine, self.audit_key, settings.audit_settle_ms / 1000)
        self.field_keys = configure_from(settings.field_keys, settings.data_dir, settings.index_key)
        """Seals ID numbers and phones in stored content and indexes (process-wide, decision 0019)."""

    def today(self) -> date:
        """Today's date where the platform runs (profile checks of absurd dates)."""
        return datetime.now(self.tz).date()

    def check_profile(self, resource: dict[str, Any], ctx: RequestContext) -> list[ProfileIssue]:
        """China-profile findings to keep with a write; 422 when the source rejects on errors."""
        return profile_check(resource, self.sources.strictness(ctx.source), self.today())

    def now_ms(self, after: int = 0) -> int:
        """The clock in milliseconds, later than ``after`` (the previous version's time).

        Versions of one resource never share a time; different resources may (history pages on
        time, rid and version, so ties are harmless), and bulk loads never run ahead of the clock.
        """
        return max(time.time_ns() // 1_000_000, after + 1)

    @contextmanager
    def unit(self, ctx: RequestContext, *, write: bool = True) -> Iterator[Unit]:
        """One database transaction: committed on normal exit, rolled back on any exception.

        The connection is taken from the pool only when the unit first touches the database, so
        requests answered without it (e.g. ``$validate-code`` on a bundled code system) cost nothing.
        """
        unit = Unit(self, None, ctx, write=write)
        try:
            yield unit
            unit.finish(commit=True)
        except IntegrityError as exc:
            unit.finish(commit=False, status=409, reason="concurrent write conflict")
            # Two writers created the same Type/id at once: the loser gets 409, nothing is half-written.
            raise FhirError.conflict(f"concurrent write conflict: {str(exc.orig).splitlines()[0]}") from None
        except FhirError as exc:
            unit.finish(commit=False, status=exc.status, reason=str(exc))
            raise
        except BaseException:
            unit.finish(commit=False, status=500, reason="internal error")
            raise

    def record(
        self,
        collector: Collector,
        ctx: RequestContext,
        *,
        kind: str = "rest",
        status: int | None = None,
        reason: str = "",
    ) -> None:
        """Append one audit event in its own transaction (logins, exports, standalone jobs)."""
        rec = record_from(collector, ctx, self.now_ms(), outcome_for(status), reason, kind)
        with self.engine.connect().execution_options(rhip_write=True) as conn:
            conn.begin()
            audit_log.append(conn, self.audit_key, [rec])
            conn.commit()


class Unit:
    """Operations inside one transaction, for one request context."""

    def __init__(self, repo: Repository, conn: Connection | None, ctx: RequestContext, *, write: bool = True) -> None:
        self.repo = repo
        self._conn = conn
        self._write_mode = write
        self.ctx = ctx
        self.pending: list[NewVersion] = []
        self.audit = Collector()
        """What this unit touched: one AuditEvent per unit (decision 0013)."""
        self.rows: RowScope | None = repo.policy.rows(ctx)
        """Row-level restriction of reads (decision 0016); None = every row of the allowed types."""
        self.deferred = False
        """When True (transaction bundles), writes are buffered and flushed together."""
        self.base_url: str | None = repo.base_url
        """This server's FHIR base: configured, else the one the HTTP request came in on (set by the
        adapter), so absolute references to it are local when indexed and searched."""

    @property
    def conn(self) -> Connection:
        """The unit's connection, opened (and its transaction begun) on first use."""
        if self._conn is None:
            conn = self.repo.engine.connect().execution_options(rhip_write=self._write_mode)
            conn.begin()
            self._conn = conn
        return self._conn

    def finish(self, *, commit: bool, status: int | None = None, reason: str = "") -> None:
        """Commit (flushing buffered writes first) or roll back, audit, and return the connection.

        The unit's AuditEvent is appended in the same transaction as its writes, so a write is never
        committed without its audit entry. A read-only unit, or one that failed, ends its own
        transaction first and appends its event in a second one on the same connection before the
        response leaves (no read snapshot is upgraded to a writer; a failed write is still audited).
        If the final flush or append fails, the exception propagates with the connection still held,
        and the caller's ``finish(commit=False)`` rolls it back.
        """
        if commit and self.pending:
            self.flush()
        record = None
        if not self.audit.empty:
            outcome = outcome_for(None if commit else status)
            record = record_from(self.audit, self.ctx, self.repo.now_ms(), outcome, "" if commit else reason)
        same_transaction = self._write_mode or (self._conn is not None and dialect.is_postgres(self._conn))
        if commit and record is not None and same_transaction:
            # PostgreSQL read units append inside their own transaction (no snapshot upgrade problem
            # there); a read's entry commits without waiting for the WAL flush (decision 0013).
            if self._write_mode:
                audit_log.append(self.conn, self.repo.audit_key, [record])
            else:  # commits too, in the same round trip
                relaxed = not self.repo.settings.audit_durable_reads
                audit_log.append_and_commit(self.conn, self.repo.audit_key, record, relaxed=relaxed)
            record = None
        conn, self._conn = self._conn, None
        self.audit = Collector()
        try:
            if conn is not None:
                if commit:
                    conn.commit()
                else:
                    conn.rollback()
            if record is not None:
                if conn is None:
                    conn = self.repo.engine.connect()
                conn.execution_options(rhip_write=True)
                conn.begin()
                # a read's event: no fsync wait (decision 0013)
                relaxed = commit and not self.repo.settings.audit_durable_reads
                audit_log.append(conn, self.repo.audit_key, [record], relaxed=relaxed)
                conn.commit()
        finally:
            if conn is not None:
                conn.close()

    # -- guard -------------------------------------------------------------------------------
    def authorize(self, access: Access, rtype: str) -> None:
        """The single policy check every operation passes through."""
        if not is_resource_type(rtype):
            raise FhirError.of(404, "not-supported", f"Unknown resource type '{rtype}'", f"未知的资源类型：{rtype}")
        try:
            self.repo.policy.authorize(self.ctx, access, rtype)
        except FhirError:
            self.audit.deny(f"{access.value} {rtype}")
            raise

    def access(self, types: Iterable[str] | None = None) -> tuple[ColumnElement[bool], dict[str, Any]] | None:
        """The SQL predicate of this unit's row scope for rows of ``types`` and the parameters to execute
        it with (None: unrestricted)."""
        if self.rows is None:
            return None
        return access_predicate(self.rows, None if types is None else frozenset(types)), scope_params(self.rows)

    def row_access(self, types: Iterable[str] | None = None) -> RowAccess | None:
        """This unit's row scope for rows of ``types`` in the form its engine runs best (the access
        function on PostgreSQL, the inline predicate on SQLite; None: unrestricted)."""
        if self.rows is None:
            return None
        return RowAccess(self.rows, None if types is None else frozenset(types), dialect.is_postgres(self.conn))

    def read_record(self, patient_id: str) -> tuple[Stored, tuple[ColumnElement[bool], dict[str, Any]] | None]:
        """The Patient ``patient_id`` (as ``read``: 404 outside the scope) and the predicate for the rows
        of its own compartment (``$everything``) with the parameters to execute it with.

        When this unit's scope sees that patient itself, only each row's own tests remain
        (``access.record_rows``); the statement asking so also asks whether the owner refuses a
        category and whether the Patient row passes its own tests, which with the first answer is the
        Patient's visibility: one statement instead of a visibility check and a record check (≈ 0.4 ms
        of a clinician's ``$everything``). A patient the scope sees plainly (``access.clear_patient_row``,
        asked with the read of the Patient row) needs no such statement: it is seen, refuses nothing and
        passes. Otherwise (e.g. seen only through a ``Patient.link``) the visibility check of ``read``
        and the full predicate."""
        self.authorize(Access.READ, "Patient")
        self.flush()
        row = self._versioned("Patient", patient_id, clear=True)
        if self.rows is None:
            return self._read_found("Patient", patient_id, row), None
        params = {**scope_params(self.rows), row_access.PATIENT.key: patient_id}
        if row.clear:  # seen, no Consent rule, no label: what the check below would answer
            access = (row_access.record_rows(self.rows, False), params)
        else:
            r = resources.c
            own = exists(select(r.rid).where(r.rid == row.rid, row_access.record_rows(self.rows, True)))
            check = select(
                row_access.sees_patient(self.rows).label("sees"),
                row_access.owner_refusals(self.rows).label("refuses"),
                own.label("own"),
            )
            sees, refuses, passes = self.conn.execute(check, params).one()
            if sees and passes:
                access = (row_access.record_rows(self.rows, bool(refuses)), params)
            else:
                self._require_visible(row.rid, "Patient", patient_id, row.content)
                access = (access_predicate(self.rows, None), scope_params(self.rows))
        return self._read_found("Patient", patient_id, row), access

    def visible(self, rid: int, rtype: str | None = None) -> bool:
        """Whether the row scope lets this unit read resource ``rid`` (of type ``rtype``, when known:
        the predicate for one type is a fraction of the all-types one to plan)."""
        access = self.row_access(None if rtype is None else [rtype])
        if access is None:
            return True
        stmt = select(resources.c.rid).where(resources.c.rid == rid, access.of_rows())
        return self.conn.execute(stmt, access.rows_params([rid])).first() is not None

    def _require_visible(self, rid: int, rtype: str, id: str, content: str | None) -> None:
        # Not found rather than forbidden: a record outside the caller's scope must not reveal it exists.
        # The attempt is audited with the resident concerned, so it shows in their access log.
        if not self.visible(rid, rtype):
            self.audit.note("read", rtype, id, content)
            self.audit.deny(f"read {rtype}/{id}")
            raise FhirError.not_found(f"{rtype}/{id}")

    # -- reads -------------------------------------------------------------------------------
    def _current(self, rtype: str, rid_or_id: str, *, lock: bool = False) -> Any:
        stmt = select(
            resources.c.rid, resources.c.version, resources.c.deleted, resources.c.imask, resources.c.lu
        ).where(resources.c.rtype == rtype, resources.c.id == rid_or_id)
        if lock and dialect.lock_suffix(self.conn):
            stmt = stmt.with_for_update()
        return self.conn.execute(stmt).first()

    def read(self, rtype: str, id: str) -> Stored:
        """Current version; 404 if it never existed, 410 if deleted."""
        self.authorize(Access.READ, rtype)
        self.flush()
        row = self._versioned(rtype, id, clear=rtype == "Patient")
        if not row.clear:
            self._require_visible(row.rid, rtype, id, row.content)
        return self._read_found(rtype, id, row)

    def _versioned(self, rtype: str, id: str, *, clear: bool = False) -> Any:
        """The current row and content of ``rtype/id``; 404 if it never existed. Its column ``clear``: the
        unit may read it without further checks (unrestricted, or ``clear`` asked of a Patient row the
        scope sees plainly: ``access.clear_patient_row``); False means "check"."""
        j = resources.join(
            resource_versions,
            (resource_versions.c.rid == resources.c.rid) & (resource_versions.c.version == resources.c.version),
        )
        plain = true() if self.rows is None else (row_access.clear_patient_row(self.rows) if clear else false())
        params = scope_params(self.rows) if clear and self.rows is not None else {}
        row = self.conn.execute(
            select(
                resources.c.rid, resources.c.version, resources.c.lu, resource_versions.c.content, plain.label("clear")
            )
            .select_from(j)
            .where(resources.c.rtype == rtype, resources.c.id == id),
            params,
        ).first()
        if row is None:
            raise FhirError.not_found(f"{rtype}/{id}")
        return row

    def _read_found(self, rtype: str, id: str, row: Any) -> Stored:
        """A row the unit may read: audited as read; 410 if deleted."""
        stored = Stored(rtype, id, row.version, row.lu, row.content, rid=row.rid)
        self.audit.note("read", rtype, id, row.content)
        if stored.deleted:
            raise FhirError.gone(f"{rtype}/{id}", {"ETag": stored.etag})
        return stored

    def vread(self, rtype: str, id: str, version: str) -> Stored:
        self.authorize(Access.READ, rtype)
        self.flush()
        if not (version.isascii() and version.isdigit()) or len(version) > 9:
            raise FhirError.not_found(f"{rtype}/{id}/_history/{version}")
        row = self.conn.execute(
            select(
                resource_versions.c.rid,
                resource_versions.c.lu,
                resource_versions.c.content,
                resource_versions.c.method,
            ).where(
                resource_versions.c.rtype == rtype,
                resource_versions.c.id == id,
                resource_versions.c.version == int(version),
            )
        ).first()
        if row is None:
            raise FhirError.not_found(f"{rtype}/{id}/_history/{version}")
        self._require_visible(row.rid, rtype, id, row.content)
        stored = Stored(rtype, id, int(version), row.lu, row.content, row.method, row.rid)
        self.audit.note("vread", rtype, id, row.content)
        if stored.deleted:
            raise FhirError.gone(f"{rtype}/{id}/_history/{version}")
        return stored

    # -- writes ------------------------------------------------------------------------------
    def prepare(self, resource: dict[str, Any]) -> list[ProfileIssue]:
        """Validate a resource body: 400 for structural errors, 422 for profile errors from a source set
        to reject; otherwise the profile findings to keep with the write."""
        check_resource(resource)
        return self.repo.check_profile(resource, self.ctx)

    def create(
        self,
        resource: dict[str, Any],
        *,
        id: str | None = None,
        method: str | None = None,
        checked: list[ProfileIssue] | None = None,
    ) -> WriteResult:
        """Store a new resource under a server-assigned id (or ``id`` for update-as-create)."""
        rtype = resource.get("resourceType")
        if not isinstance(rtype, str):
            raise FhirError.bad_request("resourceType is missing", "缺少 resourceType", "resourceType")
        self.authorize(Access.WRITE, rtype)
        findings = self.prepare(resource) if checked is None else checked
        new_id = id or make_id()
        version = self._new_version(rtype, new_id, 1, resource, method or ("POST" if id is None else "PUT"))
        self._write(version, findings)
        return WriteResult(self._stored(version), True, outcome_issues(findings, accepted=True))

    def update(self, rtype: str, id: str, resource: dict[str, Any], *, if_match: str | None = None) -> WriteResult:
        """Replace the current version (update-as-create when it does not exist, FHIR R4 §3.1.0.4)."""
        self.authorize(Access.WRITE, rtype)
        if resource.get("resourceType") != rtype:
            raise FhirError.bad_request(
                f"resourceType '{resource.get('resourceType')}' does not match the URL ({rtype})",
                "资源类型与请求地址不一致",
                "resourceType",
            )
        if resource.get("id") != id:
            raise FhirError.bad_request(
                f"resource id '{resource.get('id')}' does not match the URL id '{id}'",
                "资源 id 与请求地址中的 id 不一致",
                f"{rtype}.id",
            )
        findings = self.prepare(resource)
        current = self._current(rtype, id, lock=True)
        self._check_if_match(if_match, current, f"{rtype}/{id}")
        if current is None:
            return self.create(resource, id=id, checked=findings)
        version = self._new_version(rtype, id, current.version + 1, resource, "PUT", after=current.lu)
        version.rid = current.rid
        version.old_imask = current.imask
        self._write(version, findings)
        return WriteResult(self._stored(version), bool(current.deleted), outcome_issues(findings, accepted=True))

    def delete(self, rtype: str, id: str, *, if_match: str | None = None) -> Stored | None:
        """Soft delete: a new version with no content; reads then answer 410. None if never existed."""
        self.authorize(Access.WRITE, rtype)
        current = self._current(rtype, id, lock=True)
        if current is None:
            return None
        self._check_if_match(if_match, current, f"{rtype}/{id}")
        if current.deleted:
            return Stored(rtype, id, current.version, current.lu, None, "DELETE", current.rid)
        removed = self.conn.execute(
            select(resource_versions.c.content).where(
                resource_versions.c.rid == current.rid, resource_versions.c.version == current.version
            )
        ).scalar()
        self.audit.note("delete", rtype, id, removed)
        lu = self.repo.now_ms(current.lu)
        version = NewVersion(rtype, id, current.version + 1, lu, "DELETE", None)
        version.rid = current.rid
        version.old_imask = current.imask
        self._write(version)
        return self._stored(version)

    def _check_if_match(self, if_match: str | None, current: Any, what: str) -> None:
        if if_match is None:
            return
        wanted = if_match.strip()
        if wanted.startswith("W/"):
            wanted = wanted[2:]
        wanted = wanted.strip('"')
        have = str(current.version) if current is not None else None
        if have != wanted:
            raise FhirError.precondition_failed(
                f"If-Match {if_match} does not match the current version {have} of {what}",
                "版本不匹配：资源已被他人修改",
            )

    def _new_version(
        self, rtype: str, id: str, version: int, resource: dict[str, Any], method: str, after: int = 0
    ) -> NewVersion:
        lu = self.repo.now_ms(after)
        return build_version(rtype, id, version, resource, method, lu, base_url=self.base_url, tz=self.repo.tz)

    def _stored(self, v: NewVersion) -> Stored:
        return Stored(v.rtype, v.id, v.version, v.lu, v.content, v.method, v.rid or 0)

    def _write(self, version: NewVersion, findings: list[ProfileIssue] | None = None) -> None:
        if not version.deleted:  # deletes are noted by ``delete`` with the content they remove
            kind = "create" if version.version == 1 else "update"
            self.audit.note(kind, version.rtype, version.id, version.content)
        if findings:
            version.findings = findings
            version.source = self.ctx.source
        self.pending.append(version)
        if not self.deferred:
            self.flush()

    def flush(self) -> None:
        """Write buffered versions (transaction bundles buffer until their reads need the data)."""
        if self.pending:
            pending, self.pending = self.pending, []
            flush(self.conn, pending)
            for hook in self.repo.write_hooks:
                hook(self, pending)

    # -- search and history ------------------------------------------------------------------
    def search(self, q: SearchQuery) -> SearchResult:
        """Run a parsed search; included resources of types the caller may not read are left out."""
        policy = self.repo.policy
        if q.types:
            for t in q.types:
                self.authorize(Access.READ, t)
        else:
            allowed = [t for t in sorted(resource_types()) if policy.allows(self.ctx, Access.READ, t)]
            if len(allowed) != len(resource_types()):
                if not allowed:
                    raise FhirError.forbidden("no resource type may be read with this token")
                q.types = tuple(allowed)
        self.flush()
        env = Env(self.repo.tz, self.base_url, self.repo.now_ms())
        result = run_search(
            self.conn,
            q,
            env,
            max_include=self.repo.settings.max_include,
            access=self.row_access(q.types or None),
            include_access=self.row_access(),
        )
        result.included = [row for row in result.included if policy.allows(self.ctx, Access.READ, row.rtype)]
        kind = "search-type" if q.rtype else "search-system"
        self.audit.query(kind, f"{q.rtype or ''}?{'&'.join(f'{k}={v}' for k, v in q.echo)}")
        for row in (*result.matches, *result.included):
            self.audit.note(kind, row.rtype, row.id, row.content)
        return result

    def history(
        self,
        rtype: str | None = None,
        id: str | None = None,
        *,
        since_ms: int | None = None,
        count: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[Stored], str | None]:
        """Versions newest first (instance, type or system level), keyset-paged by (lu, rid, version)."""
        if rtype:
            self.authorize(Access.READ, rtype)
        self.flush()
        v = resource_versions.c
        stmt = select(v.rid, v.version, v.rtype, v.id, v.lu, v.method, v.content)
        if rtype:
            stmt = stmt.where(v.rtype == rtype)
        else:
            allowed = [t for t in resource_types() if self.repo.policy.allows(self.ctx, Access.READ, t)]
            if len(allowed) != len(resource_types()):
                stmt = stmt.where(v.rtype.in_(allowed))
        if id is not None:
            stmt = stmt.where(v.id == id)
        access = self.access([rtype] if rtype else None)
        params: dict[str, Any] = {}
        if access is not None:
            stmt = stmt.where(v.rid.in_(select(resources.c.rid).where(access[0])))
            params = access[1]
        if since_ms is not None:
            stmt = stmt.where(v.lu >= since_ms)
        if cursor:
            lu, rid, ver = decode_cursor(cursor, 3)
            stmt = stmt.where(tuple_(v.lu, v.rid, v.version) < tuple_(lu, rid, ver))
        stmt = stmt.order_by(v.lu.desc(), v.rid.desc(), v.version.desc()).limit(count + 1)
        rows = self.conn.execute(stmt, params).all()
        next_cursor = None
        if len(rows) > count:
            rows = rows[:count]
            if rows:  # _count=0: an empty page and no next link
                next_cursor = encode_cursor([rows[-1].lu, rows[-1].rid, rows[-1].version])
        out = [Stored(r.rtype, r.id, r.version, r.lu, r.content, r.method, r.rid) for r in rows]
        kind = "history-instance" if id is not None else ("history-type" if rtype else "history-system")
        self.audit.note(kind, None)
        for st in out:
            self.audit.note(kind, st.rtype, st.id, st.content)
        return out, next_cursor

    # -- break-glass ---------------------------------------------------------------------------
    def break_glass(self, patient_id: str, reason: str, minutes: int) -> int:
        """Grant this clinician emergency access to one patient's record for ``minutes`` (decision 0016).

        The grant is flagged in the audit trail with its reason (so the resident and auditors see it)
        and expires by itself; confidentiality-V data stays hidden. Returns the expiry (epoch ms).
        """
        self.authorize(Access.READ, "Patient")
        if self.ctx.kind != "user" or self.ctx.role != "clinician":
            self.audit.deny(f"break-glass Patient/{patient_id}")
            raise FhirError.forbidden("only clinicians may break the glass", "只有临床医务人员可以紧急授权访问")
        current = self._current("Patient", patient_id)
        if current is None or current.deleted:
            raise FhirError.not_found(f"Patient/{patient_id}")
        now = self.repo.now_ms()
        expires = now + minutes * 60_000
        self.conn.execute(
            insert(access_grants).values(
                subject=self.ctx.subject,
                patient=patient_id,
                kind="break-glass",
                reason=reason,
                granted=now,
                expires=expires,
            )
        )
        self.audit.note("break-glass", "Patient", patient_id)
        self.audit.remark(f"break-glass for {minutes} min: {reason}")
        return expires

    # -- the audit trail ---------------------------------------------------------------------
    def audit_events(
        self,
        *,
        patient: str | None = None,
        agent: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        action: list[str] | None = None,
        outcome: list[str] | None = None,
        before_seq: int | None = None,
        count: int = 50,
    ) -> list[tuple[int, str]]:
        """AuditEvents newest first (reading the trail is audited like any other read)."""
        self.authorize(Access.READ, "AuditEvent")
        if self.rows is not None and patient not in self.rows.patients:  # residents: their own record only
            self.audit.deny("read AuditEvent of another record")
            raise FhirError.forbidden(
                "residents may read the audit events of their own record: give patient=<your Patient id>",
                "居民只能查看本人健康档案的访问记录，请指定 patient 参数",
            )
        rows = audit_log.search(
            self.conn,
            patient=patient,
            agent=agent,
            since_ms=since_ms,
            until_ms=until_ms,
            action=action,
            outcome=outcome,
            before_seq=before_seq,
            count=count,
        )
        asked = {
            "patient": patient,
            "agent": agent,
            "action": ",".join(action or ()),
            "outcome": ",".join(outcome or ()),
        }
        self.audit.query("search-type", "AuditEvent?" + "&".join(f"{k}={v}" for k, v in asked.items() if v))
        for seq, content in rows:
            self.audit.note("search-type", "AuditEvent", str(seq), content)
        return rows

    def audit_event(self, id: str) -> str:
        """One AuditEvent by id (its sequence number); 404 when there is none."""
        self.authorize(Access.READ, "AuditEvent")
        content = audit_log.read(self.conn, int(id)) if id.isascii() and id.isdigit() and len(id) < 19 else None
        if content is None:
            raise FhirError.not_found(f"AuditEvent/{id}")
        self.audit.note("read", "AuditEvent", id, content)
        return content

    def read_any(self, rtype: str, id: str) -> None:
        """404 unless the resource exists or existed (history of a deleted resource is readable)."""
        self.authorize(Access.READ, rtype)
        self.flush()
        current = self._current(rtype, id)
        if current is None:
            raise FhirError.not_found(f"{rtype}/{id}")
        self._require_visible(current.rid, rtype, id, None)

    def exists(self, rtype: str, id: str) -> bool:
        """Whether a (not deleted) resource exists; used to check references inside bundles."""
        row = self._current(rtype, id)
        return row is not None and not row.deleted
