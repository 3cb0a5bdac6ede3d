"""Break-glass reported to the resident and to the auditor (decision 0018).

- ``notice``: the FHIR R4 ``Communication`` telling a resident that a clinician broke the glass on their
  record: who, why, when and until when, in Chinese first and English second. The ``$break-glass``
  operation writes it through the repository in the grant's own transaction, so it is validated,
  indexed, audited and visible to the resident like any record in their compartment.
- ``report``: the auditor's list of break-glass grants (``rhip audit break-glass``), each matched with
  the AuditEvent that flagged it in the SM3 chain and the notification that event names. A grant
  without its event (``"audit_event": null``) means the grants table and the trail disagree.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import select

from rhip.canonical import CANONICAL
from rhip.fhir import json as fjson
from rhip.security.context import RequestContext
from rhip.security.policy import Access
from rhip.store import audit_log
from rhip.store.access_tables import access_grants
from rhip.store.audit_tables import audit_events
from rhip.store.repository import Repository, format_instant

NOTIFICATION_SYSTEM = f"{CANONICAL}/CodeSystem/resident-notification"
"""Platform code system of notices written to residents; ``break-glass`` is its first code."""
GRANT_EXTENSION = f"{CANONICAL}/StructureDefinition/break-glass-grant"
"""Complex extension on the notice: ``user`` (the clinician's account, valueIdentifier) and
``expires`` (valueInstant), for applications that show the grant without parsing the text."""
USER_SYSTEM = f"{CANONICAL}/sid/user"
"""Identifier system of user accounts, as in the AuditEvent agent (``rhip.security.audit``)."""
KIND = "break-glass"


def _local(ms: int, tz: tzinfo) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz)
    offset = moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M} (UTC{offset[:3]}:{offset[3:]})"


def notice(
    clinician: RequestContext,
    patient: str,
    reason: str,
    granted_ms: int,
    expires_ms: int,
    tz: tzinfo,
    organization_name: str | None = None,
) -> dict[str, Any]:
    """The Communication to the resident for one grant (no id: the repository assigns it).

    ``sender`` is the clinician's organisation as the request context knows it (a reference, with its
    name when known), else the clinician's account identifier; the clinician is named in the text and
    in the ``break-glass-grant`` extension either way.
    """
    who = clinician.subject
    org = clinician.organization
    where_zh = f"{organization_name or org}的" if org else ""
    where_en = f" of {organization_name or org}" if org else ""
    granted, expires = _local(granted_ms, tz), _local(expires_ms, tz)
    text_zh = (
        f"紧急授权访问通知：{where_zh}临床医务人员 {who} 于 {granted} 以紧急授权（break-glass）方式"
        f"访问了您的健康档案，理由：“{reason}”。该授权至 {expires} 自动失效。"
        "每次访问都记录在您的档案访问记录中；如有疑问，请联系该机构或平台管理部门。"
    )
    text_en = (
        f"Break-glass access notice: clinician {who}{where_en} opened your health record in an emergency "
        f'(break-glass) at {granted}. Reason given: "{reason}". The access ends automatically at {expires}. '
        "Every access is listed in your record's access log; for questions, contact the organisation "
        "or the platform operator."
    )
    sender: dict[str, Any]
    if org:
        sender = {"reference": f"Organization/{org}"}
        if organization_name:
            sender["display"] = organization_name
    else:
        sender = {"identifier": {"system": USER_SYSTEM, "value": who}, "display": who}
    return {
        "resourceType": "Communication",
        "extension": [
            {
                "url": GRANT_EXTENSION,
                "extension": [
                    {"url": "user", "valueIdentifier": {"system": USER_SYSTEM, "value": who}},
                    {"url": "expires", "valueInstant": format_instant(expires_ms)},
                ],
            }
        ],
        "status": "completed",
        "category": [
            {
                "coding": [{"system": NOTIFICATION_SYSTEM, "code": KIND, "display": "紧急授权访问通知"}],
                "text": "紧急授权访问通知 / Break-glass access notice",
            }
        ],
        "subject": {"reference": f"Patient/{patient}"},
        "sent": format_instant(granted_ms),
        "recipient": [{"reference": f"Patient/{patient}"}],
        "sender": sender,
        "reasonCode": [{"text": reason}],
        "payload": [{"contentString": text_zh}, {"contentString": text_en}],
    }


def parse_since(text: str, tz: tzinfo) -> int:
    """Epoch milliseconds of an ISO date or date-time; without an offset it is local time (``tz``)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return int(moment.timestamp() * 1000)


def _is_break_glass(event: dict[str, Any], patient: str) -> bool:
    codes = {s.get("code") for s in event.get("subtype") or ()}
    refs = {(e.get("what") or {}).get("reference") for e in event.get("entity") or ()}
    return KIND in codes and f"Patient/{patient}" in refs and event.get("outcome") == "0"


def report(repo: Repository, ctx: RequestContext, *, since_ms: int | None = None) -> list[dict[str, Any]]:
    """Break-glass grants oldest first, as ``{who, organization, patient, reason, granted, expires,
    audit_event, notification}``; reading them is itself one AuditEvent naming every patient listed.

    ``ctx`` must be allowed to read AuditEvent (auditors, system jobs); a row-restricted reader
    (a resident) gets the grants on their own record only.
    """
    audit_log.settle(repo.engine, repo.audit_key)  # the grants' events, if any are still staged
    with repo.unit(ctx, write=False) as unit:
        unit.authorize(Access.READ, "AuditEvent")
        unit.audit.query("search-type", f"break-glass report since={'' if since_ms is None else since_ms}")
        g, e = access_grants.c, audit_events.c
        stmt = select(g.subject, g.patient, g.reason, g.granted, g.expires).where(g.kind == KIND)
        if since_ms is not None:
            stmt = stmt.where(g.granted >= since_ms)
        if unit.rows is not None:
            stmt = stmt.where(g.patient.in_(sorted(unit.rows.patients)))
        grants = unit.conn.execute(stmt.order_by(g.granted, g.id)).all()
        used: set[int] = set()
        lines: list[dict[str, Any]] = []
        for grant in grants:
            # The event of the grant's own request: same agent, within the grant's lifetime (index on agent, ts).
            candidates = unit.conn.execute(
                select(e.seq, e.content)
                .where(
                    e.agent == grant.subject[:80],
                    e.ts >= grant.granted,
                    e.ts <= grant.expires,
                    e.content.like(f"%{KIND}%"),
                )
                .order_by(e.seq)
                .limit(50)
            ).all()
            seq, event = None, None
            for row in candidates:
                parsed = fjson.loads(row.content)
                if row.seq not in used and _is_break_glass(parsed, grant.patient):
                    seq, event = int(row.seq), parsed
                    used.add(seq)
                    unit.audit.note("search-type", "AuditEvent", str(seq), row.content)
                    break
            unit.audit.patients.add(grant.patient)
            agent = (event or {}).get("agent", [{}])[0]
            notes = [
                ref
                for ent in (event or {}).get("entity") or ()
                if (ref := (ent.get("what") or {}).get("reference", "")).startswith("Communication/")
            ]
            lines.append(
                {
                    "who": grant.subject,
                    "organization": (agent.get("location") or {}).get("display"),
                    "patient": grant.patient,
                    "reason": grant.reason,
                    "granted": format_instant(grant.granted),
                    "expires": format_instant(grant.expires),
                    "audit_event": seq,
                    "notification": notes[0] if notes else None,
                }
            )
    return lines
