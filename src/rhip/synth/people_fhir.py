"""Population-register resources: the clean register Patient, the household Group, RelatedPersons.

The register (全员人口库) is kept by the county 卫生健康局. Its Patient is the person's true,
clean identity (snapshot at the end of the window) and its id is the ground-truth person id.
Households are Groups of type ``person``; family relations (spouse, parents of each member,
children of elderly members) are RelatedPersons attached to the register Patient.
"""

from __future__ import annotations

from typing import Any

from rhip.synth import systems as cs
from rhip.synth.context import Ctx
from rhip.synth.fhirbase import cc, day, dt, ident, ref
from rhip.synth.geography import address, hukou_category, origin_address
from rhip.synth.population import Household, Person
from rhip.synth.registration import MARITAL_CC, ethnicity_extension, hard_cases, id_card_identifier, sex_extension

_REL = {
    "mother": ("MTH", "mother", "母亲"),
    "father": ("FTH", "father", "父亲"),
    "husband": ("HUSB", "husband", "丈夫"),
    "wife": ("WIFE", "wife", "妻子"),
    "son": ("SONC", "son", "儿子"),
    "daughter": ("DAUC", "daughter", "女儿"),
}
_REL_CC = {k: cc(cs.CS_ROLE_CODE, c, d, t) for k, (c, d, t) in _REL.items()}
_HOUSEHOLD_CC = cc(f"{cs.CANONICAL}/CodeSystem/group-kind", "household", "户")


def register_patient(ctx: Ctx, hh: Household, p: Person) -> dict[str, Any]:
    """The clean register Patient of ``p`` (managed by the county 卫生健康局)."""
    geo = ctx.region.geo
    bureau = hh.village.township.county.bureau
    residence = address(geo, hh.village, hh.line)
    hukou = origin_address(hh.origin, hh.hukou_line) if hh.origin else hukou_category(residence)
    identifiers = [id_card_identifier(p.id_number), ident(cs.SID_HEALTH_RECORD, p.record_no)]
    if p.health_card:
        identifiers.append(ident(cs.SID_HEALTH_CARD, p.health_card))
    extensions = [sex_extension(p.sex), ethnicity_extension(p.ethnicity)]
    if hh.migrant:
        extensions.append({"url": cs.EXT_MIGRANT, "valueBoolean": True})
    pat: dict[str, Any] = {
        "resourceType": "Patient",
        "id": p.pid,
        "extension": extensions,
        "identifier": identifiers,
        "active": True,
        "name": [{"use": "official", "text": p.name, "family": p.family, "given": [p.given]}],
        "telecom": [{"system": "phone", "value": p.phone, "use": "mobile" if p.phone[0] == "1" else "home"}],
        "gender": p.sex,
        "birthDate": day(p.birth),
    }
    if p.death is not None:
        pat["deceasedDateTime"] = dt(p.death, 300 + (p.birth % 900))
    pat["address"] = [residence, hukou]
    pat["maritalStatus"] = MARITAL_CC[p.marital]
    if p.twin is not None:
        pat["multipleBirthInteger"] = 1 if p.key < p.twin.key else 2
    pat["managingOrganization"] = ref("Organization", bureau.id, bureau.name)
    return pat


def _related(ctx: Ctx, p: Person, other: Person, rel: str, hh: Household) -> dict[str, Any]:
    rp: dict[str, Any] = {
        "resourceType": "RelatedPerson",
        "id": ctx.region.ids.make(f"rel:{p.key}:{other.key}"),
        "identifier": [id_card_identifier(other.id_number)],
        "active": other.death is None,
        "patient": ref("Patient", p.pid),
        "relationship": [_REL_CC[rel]],
        "name": [{"use": "official", "text": other.name, "family": other.family, "given": [other.given]}],
        "telecom": [{"system": "phone", "value": other.phone}],
        "gender": other.sex,
        "birthDate": day(other.birth),
        "address": [address(ctx.region.geo, hh.village, hh.line)],
    }
    return rp


def household_resources(ctx: Ctx, hh: Household) -> None:
    """Append the register Patients, RelatedPersons and the household Group to ``ctx.out``."""
    members = hh.members
    for p in members:
        ctx.out.append(register_patient(ctx, hh, p))
        bureau = hh.village.township.county.bureau
        ctx.truth.append((f"Patient/{p.pid}", f"Patient/{p.pid}", f"Organization/{bureau.id}", "", "", hard_cases(p)))
    for p in members:
        if p.spouse is not None and p.spouse in members:
            ctx.out.append(_related(ctx, p, p.spouse, "husband" if p.spouse.sex == "male" else "wife", hh))
        if p.mother is not None and p.mother in members:
            ctx.out.append(_related(ctx, p, p.mother, "mother", hh))
        if p.father is not None and p.father in members:
            ctx.out.append(_related(ctx, p, p.father, "father", hh))
        if p.age_on(ctx.end) >= 65:
            for kid in members:
                if kid.mother is p or kid.father is p:
                    ctx.out.append(_related(ctx, p, kid, "son" if kid.sex == "male" else "daughter", hh))
    head = members[0]
    seq_key = "H" + hh.village.code
    state = ctx.region.state
    seq = state.record_seq.get(seq_key, 0) + 1
    state.record_seq[seq_key] = seq
    group_members = []
    for p in members:
        m: dict[str, Any] = {"entity": ref("Patient", p.pid, p.name)}
        period: dict[str, str] = {"start": day(p.birth if p.born_in_sim else ctx.start)}
        if p.death is not None:
            period["end"] = day(p.death)
        m["period"] = period
        m["inactive"] = p.death is not None
        group_members.append(m)
    bureau = hh.village.township.county.bureau
    ctx.out.append(
        {
            "resourceType": "Group",
            "id": hh.gid,
            "identifier": [ident(cs.SID_HOUSEHOLD, f"{hh.village.code}{seq:04d}")],
            "active": True,
            "type": "person",
            "actual": True,
            "code": _HOUSEHOLD_CC,
            "name": f"{head.name}户",
            "quantity": sum(1 for p in members if p.death is None),
            "managingEntity": ref("Organization", bureau.id, bureau.name),
            "member": group_members,
        }
    )
