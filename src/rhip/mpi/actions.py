"""Clerk actions on the index (WS/T 790.6 居民注册服务): merge, unmerge, link, unlink, review resolution.

Clinical resources are never rewritten: they keep referring to the registration (source Patient)
they were written for, and a person's record is the union over its registrations. So a merge only
moves registrations between persons, and an unmerge moves exactly the moved ones back (the merge
decision stores them), after which each person reaches its own resources again. Every action is a
row of ``mpi_decisions`` (kind, agent, time), besides the AuditEvent of the unit it runs in.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from rhip.fhir.errors import FhirError
from rhip.mpi import index
from rhip.mpi.index import Person, Registration
from rhip.mpi.tables import mpi_decisions, mpi_reviews


def _row(now: int, kind: str, agent: str, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "ts": now,
        "kind": kind,
        "rid": None,
        "other": None,
        "person": None,
        "other_person": None,
        "model": "",
        "score": None,
        "decision": kind,
        "rule": "clerk",
        "blocking": "",
        "fields": "{}",
        "agent": agent[:80],
    }
    row.update(kw)
    return row


def current(conn: Connection, pid: int) -> Person:
    """The person ``pid`` or, if it was merged, the person that replaced it; 404 if unknown."""
    seen = set()
    found = index.person(conn, pid)
    while found is not None and found.replaced_by is not None and found.person not in seen:
        seen.add(found.person)
        found = index.person(conn, found.replaced_by)
    if found is None:
        raise FhirError.of(404, "not-found", f"person {pid} is not in the index", f"主索引中不存在此居民：{pid}")
    return found


def _exclusive(a: Person, b: Person) -> None:
    if a.ric_valid and b.ric_valid and a.ric_valid != b.ric_valid:
        raise FhirError.of(
            422,
            "business-rule",
            f"persons {a.person} and {b.person} hold different valid ID numbers; they cannot be one person",
            "两个居民的身份证号不同且均有效，不能合并为同一人",
        )


def merge(conn: Connection, source: int, target: int, agent: str, now: int) -> dict[str, Any]:
    """Move every registration of ``source`` to ``target``; ``source`` becomes ``replaced-by`` target."""
    if source == target:
        raise FhirError.bad_request("source and target are the same person", "源居民与目标居民是同一人")
    locked = index.persons(conn, [source, target], lock=True)
    if source not in locked or target not in locked:
        raise FhirError.of(404, "not-found", "person not in the index", "主索引中不存在此居民")
    src, dst = locked[source], locked[target]
    if src.status != "active" or dst.status != "active":
        raise FhirError.conflict(
            f"person {source if src.status != 'active' else target} is {src.status}/{dst.status}, not active",
            "居民主记录已被合并或停用",
        )
    _exclusive(src, dst)
    moved = index.members(conn, source)
    index.move(conn, [r.rid for r in moved], target, "merged")
    index.refresh_person(conn, target, now)
    index.refresh_person(conn, source, now, replaced_by=target)
    index.close_reviews_of(conn, source, now, "merged", agent)
    fields = json.dumps({"moved": [[r.rid, r.status] for r in moved]})
    index.record_decisions(
        conn, [_row(now, "merge", agent, person=target, other_person=source, fields=fields, decision="merge")]
    )
    return {"target": target, "source": source, "moved": [r.id for r in moved]}


def unmerge(conn: Connection, source: int, agent: str, now: int) -> dict[str, Any]:
    """Undo the last merge of ``source``: its registrations (those still on the target) go back."""
    d = mpi_decisions.c
    row = conn.execute(
        select(d.id, d.person, d.fields)
        .where(d.kind == "merge", d.other_person == source)
        .order_by(d.id.desc())
        .limit(1)
    ).first()
    src = index.person(conn, source)
    if row is None or src is None or src.status != "merged":
        raise FhirError.of(
            409, "business-rule", f"person {source} is not merged", "该居民当前不是被合并状态，无法撤销合并"
        )
    target = int(row.person)
    index.persons(conn, [source, target], lock=True)
    moved = {int(rid): str(status) for rid, status in json.loads(row.fields)["moved"]}
    back = [r for r in index.members(conn, target) if r.rid in moved]
    for r in back:
        index.move(conn, [r.rid], source, moved[r.rid])
    index.refresh_person(conn, source, now)
    index.refresh_person(conn, target, now)
    index.record_decisions(conn, [_row(now, "unmerge", agent, person=source, other_person=target, decision="unmerge")])
    return {"source": source, "target": target, "restored": [r.id for r in back]}


def link(conn: Connection, reg: Registration, to: Registration, agent: str, now: int) -> dict[str, Any]:
    """Attach registration ``reg`` to the person of ``to`` (a clerk's link; matching keeps it there)."""
    old, target = reg.person, to.person
    if old == target:
        return {"person": target, "changed": False}
    locked = index.persons(conn, [old, target], lock=True)
    if reg.record.get("ric_valid") and locked[target].ric_valid not in (None, reg.record["ric_valid"]):
        _exclusive(Person(old, "active", None, reg.record["ric_valid"], 0, {}), locked[target])
    index.move(conn, [reg.rid], target, "manual")
    index.refresh_person(conn, target, now)
    index.refresh_person(conn, old, now, replaced_by=target)
    index.record_decisions(
        conn,
        [_row(now, "link", agent, rid=reg.rid, other=to.rid, person=target, other_person=old, decision="link")],
    )
    return {"person": target, "changed": True}


def unlink(conn: Connection, reg: Registration, agent: str, now: int) -> dict[str, Any]:
    """Detach registration ``reg`` into a person of its own (a clerk's split)."""
    old = reg.person
    if len(index.members(conn, old)) == 1:
        return {"person": old, "changed": False}
    index.persons(conn, [old], lock=True)
    fresh = index.new_person(conn, now)
    index.move(conn, [reg.rid], fresh, "manual")
    index.refresh_person(conn, fresh, now)
    index.refresh_person(conn, old, now)
    index.record_decisions(
        conn, [_row(now, "unlink", agent, rid=reg.rid, person=fresh, other_person=old, decision="unlink")]
    )
    return {"person": fresh, "changed": True}


def resolve(conn: Connection, task: int, resolution: str, agent: str, now: int) -> dict[str, Any]:
    """Close a review task: ``link`` merges the two persons (into the older one), ``no-link`` keeps them apart."""
    if resolution not in ("link", "no-link"):
        raise FhirError.bad_request(
            "resolution must be link or no-link", "处理结果必须是 link 或 no-link", "resolution"
        )
    r = mpi_reviews.c
    row = conn.execute(select(r.id, r.status, r.person_a, r.person_b).where(r.id == task)).first()
    if row is None:
        raise FhirError.of(404, "not-found", f"review task {task} does not exist", f"复核任务不存在：{task}")
    if row.status != "open":
        raise FhirError.conflict(f"review task {task} is already closed", "该复核任务已处理")
    out: dict[str, Any] = {"task": task, "resolution": resolution}
    if resolution == "link":
        a, b = current(conn, int(row.person_a)), current(conn, int(row.person_b))
        if a.person != b.person:
            target, source = sorted((a.person, b.person))
            out.update(merge(conn, source, target, agent, now))
    conn.execute(
        mpi_reviews.update()
        .where(r.id == task)
        .values(status="closed", resolution=resolution, closed=now, closed_by=agent[:80])
    )
    index.record_decisions(
        conn,
        [
            _row(
                now,
                "review",
                agent,
                person=int(row.person_a),
                other_person=int(row.person_b),
                decision=resolution,
                fields=json.dumps({"task": task}),
            )
        ],
    )
    return out
