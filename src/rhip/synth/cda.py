"""CDA R2 share documents (WS/T 500) for inpatient discharges and hospital outpatient visits.

Header per standards.md §3.5 (realmCode CN, POCD_MT000040 typeId, templateId
2.16.156.10011.2.1.1.(20+NN), ClinicalDocument/code C00NN in codeSystem 2.16.156.10011.2.4,
patient identifiers under the 2.16.156.10011.1.x OIDs, GB/T 2261.1 / 2261.2 / GB 3304 codes).
Documents: C0053 出院小结 (from each discharge-summary Composition) and C0002 门(急)诊病历 (from
each numbered hospital outpatient Encounter). Entries are observations coded with data-element
ids (DE05.01.024.00 诊断代码) under 2.16.156.10011.2.2.1 with ICD-10 values (2.16.156.10011.2.3.3.11).
One file per document: ``cda/<Organization id>/<document id>.xml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from rhip.synth.facilities import Facility, Staff

_GB_SEX = {"male": ("1", "男性"), "female": ("2", "女性")}
_DOCS = {
    "C0053": ("2.16.156.10011.2.1.1.73", "出院小结", "2.16.156.10011.1.12"),
    "C0002": ("2.16.156.10011.2.1.1.22", "门(急)诊病历", "2.16.156.10011.1.11"),
}


def _ts(value: str) -> str:
    if len(value) == 10:
        return value.replace("-", "")
    return value[0:4] + value[5:7] + value[8:10] + value[11:13] + value[14:16] + value[17:19]


def _a(value: str) -> str:
    return quoteattr(value)


class CdaSink:
    """Writes WS/T 500 documents."""

    def __init__(self, out: Path, facilities: dict[str, Facility], staff: dict[str, Staff]) -> None:
        self.dir = out / "cda"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.facilities, self.staff = facilities, staff
        self.dirs: set[str] = set()
        self.counts: dict[str, int] = {}

    def household(self, resources: list[dict[str, Any]]) -> None:
        """Documents for one household."""
        by_id = {r["id"]: r for r in resources}
        meds: dict[str, list[dict[str, Any]]] = {}
        for r in resources:
            if r["resourceType"] == "MedicationRequest":
                meds.setdefault(r["encounter"]["reference"][10:], []).append(r)
        for r in resources:
            rt = r["resourceType"]
            if rt == "Composition":
                enc = by_id[r["encounter"]["reference"][10:]]
                self._write("C0053", r["id"], r["date"], enc, by_id, meds.get(enc["id"], []), r)
            elif rt == "Encounter" and r["class"]["code"] in ("AMB", "EMER") and "identifier" in r:
                fac = self.facilities[r["serviceProvider"]["reference"][13:]]
                if fac.kind in ("county", "tertiary", "mch"):
                    self._write("C0002", r["id"], r["period"]["end"], r, by_id, meds.get(r["id"], []), None)

    def close(self) -> dict[str, int]:
        """Counts per document code."""
        return dict(sorted(self.counts.items()))

    def _write(
        self,
        code: str,
        doc_id: str,
        when: str,
        enc: dict[str, Any],
        by_id: dict[str, dict[str, Any]],
        meds: list[dict[str, Any]],
        comp: dict[str, Any] | None,
    ) -> None:
        fac = self.facilities[enc["serviceProvider"]["reference"][13:]]
        pat = by_id[enc["subject"]["reference"][8:]]
        xml = self._document(code, doc_id, when, enc, pat, fac, by_id, meds, comp)
        if fac.id not in self.dirs:
            (self.dir / fac.id).mkdir(exist_ok=True)
            self.dirs.add(fac.id)
        (self.dir / fac.id / f"{doc_id}.xml").write_bytes(xml.encode())
        self.counts[code] = self.counts.get(code, 0) + 1

    def _document(
        self,
        code: str,
        doc_id: str,
        when: str,
        enc: dict[str, Any],
        pat: dict[str, Any],
        fac: Facility,
        by_id: dict[str, dict[str, Any]],
        meds: list[dict[str, Any]],
        comp: dict[str, Any] | None,
    ) -> str:
        template, title, number_oid = _DOCS[code]
        st = self.staff.get(enc["participant"][0]["individual"]["reference"][17:])
        author_no = st.number if st else ""
        author_name = st.name if st else ""
        x: list[str] = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
            '<realmCode code="CN"/>',
            '<typeId root="2.16.840.1.113883.1.3" extension="POCD_MT000040"/>',
            f'<templateId root="{template}"/>',
            f'<id root="2.16.156.10011.1.1" extension="{doc_id}"/>',
            f'<code code="{code}" codeSystem="2.16.156.10011.2.4" codeSystemName="卫生信息共享文档规范编码体系"/>',
            f"<title>{title}</title>",
            f'<effectiveTime value="{_ts(when)}"/>',
            '<confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25" codeSystemName="Confidentiality"'
            ' displayName="正常访问保密级别"/>',
            '<languageCode code="zh-CN"/>',
            f'<setId root="2.16.156.10011.1.1" extension="{doc_id}"/>',
            '<versionNumber value="1"/>',
        ]
        x.extend(self._record_target(pat, enc, number_oid))
        org = f'<id root="2.16.156.10011.1.5" extension="{fac.uscc}"/><name>{escape(fac.name)}</name>'
        x.append(
            f'<author typeCode="AUT" contextControlCode="OP"><time value="{_ts(when)}"/>'
            f'<assignedAuthor classCode="ASSIGNED"><id root="2.16.156.10011.1.7" extension={_a(author_no)}/>'
            f"<assignedPerson><name>{escape(author_name)}</name></assignedPerson>"
            f"<representedOrganization>{org}</representedOrganization></assignedAuthor></author>"
        )
        x.append(
            '<custodian typeCode="CST"><assignedCustodian classCode="ASSIGNED">'
            f'<representedCustodianOrganization classCode="ORG" determinerCode="INSTANCE">{org}'
            "</representedCustodianOrganization></assignedCustodian></custodian>"
        )
        x.append(
            f'<legalAuthenticator><time value="{_ts(when)}"/><signatureCode code="S"/>'
            f'<assignedEntity><id root="2.16.156.10011.1.4" extension={_a(author_no)}/>'
            f"<assignedPerson><name>{escape(author_name)}</name></assignedPerson></assignedEntity>"
            "</legalAuthenticator>"
        )
        period = enc["period"]
        x.append(
            f'<componentOf><encompassingEncounter><effectiveTime><low value="{_ts(period["start"])}"/>'
            f'<high value="{_ts(period["end"])}"/></effectiveTime></encompassingEncounter></componentOf>'
        )
        x.append("<component><structuredBody>")
        conds = [
            by_id[d["condition"]["reference"][10:]]
            for d in enc.get("diagnosis", ())
            if d["condition"]["reference"][10:] in by_id
        ]
        if code == "C0053":
            x.append(self._dx_section("46241-6", "入院诊断", conds[:1]))
            x.append(self._dx_section("11535-2", "出院诊断", conds))
            course = next((s["text"]["div"] for s in (comp or {}).get("section", ()) if s["title"] == "住院过程"), "")
            text = course.split("<p>", 1)[-1].split("</p>", 1)[0] if course else ""
            x.append(
                '<component><section><code code="8648-8" codeSystem="2.16.840.1.113883.6.1"'
                f' codeSystemName="LOINC" displayName="Hospital course"/><title>住院过程</title><text>{text}</text>'
                "</section></component>"
            )
        else:
            x.append(self._dx_section("29548-5", "诊断", conds))
        if meds:
            items = "".join(
                f"<item>{escape(m['medicationCodeableConcept']['text'])}："
                f"{escape(m['dosageInstruction'][0]['text'])}</item>"
                for m in meds
            )
            x.append(
                '<component><section><code code="10160-0" codeSystem="2.16.840.1.113883.6.1"'
                ' codeSystemName="LOINC" displayName="History of medication use"/><title>用药</title>'
                f"<text><list>{items}</list></text></section></component>"
            )
        x.append("</structuredBody></component></ClinicalDocument>")
        return "\n".join(x) + "\n"

    def _record_target(self, pat: dict[str, Any], enc: dict[str, Any], number_oid: str) -> list[str]:
        mrn = next((i["value"] for i in pat["identifier"] if "/sid/mrn/" in i["system"]), "")
        visit = enc.get("identifier", [{"value": ""}])[0]["value"]
        number = visit if number_oid.endswith(".12") else mrn
        ids = [f'<id root="{number_oid}" extension={_a(number)}/>']
        card = next((i["value"] for i in pat["identifier"] if i["system"].endswith("10011.1.19")), None)
        if card:
            ids.append(f'<id root="2.16.156.10011.1.19" extension="{card}"/>')
        addr = pat["address"][0]
        line = addr.get("line", ["", "", ""])
        addr_xml = (
            f'<addr use="H"><houseNumber>{escape(line[-1])}</houseNumber>'
            f"<streetName>{escape(line[1] if len(line) > 2 else '')}</streetName>"
            f"<township>{escape(line[0])}</township><county>{escape(addr.get('district', ''))}</county>"
            f"<city>{escape(addr.get('city', ''))}</city><state>{escape(addr.get('state', ''))}</state>"
            f"<postalCode>{addr.get('postalCode', '')}</postalCode></addr>"
        )
        id_card = next((i["value"] for i in pat["identifier"] if i["system"].endswith("10011.1.3")), None)
        name = pat["name"][0]["text"]
        sex = _GB_SEX.get(pat["gender"], ("0", "未知的性别"))
        eth = pat["extension"][1]["valueCodeableConcept"]["coding"][0]
        out = [
            '<recordTarget typeCode="RCT" contextControlCode="OP"><patientRole classCode="PAT">',
            *ids,
            addr_xml,
            f"<telecom value={_a('tel:' + pat['telecom'][0]['value'])}/>",
            '<patient classCode="PSN" determinerCode="INSTANCE">',
        ]
        if id_card:
            out.append(f'<id root="2.16.156.10011.1.3" extension={_a(id_card)}/>')
        out.append(f"<name>{escape(name)}</name>")
        out.append(
            f'<administrativeGenderCode code="{sex[0]}" codeSystem="2.16.156.10011.2.3.3.4"'
            f' codeSystemName="生理性别代码表(GB/T 2261.1)" displayName="{sex[1]}"/>'
        )
        out.append(f'<birthTime value="{_ts(pat["birthDate"])}"/>')
        marital = pat.get("maritalStatus")
        if marital:
            m = marital["coding"][0]
            out.append(
                f'<maritalStatusCode code="{m["code"]}" codeSystem="2.16.156.10011.2.3.3.5"'
                f' codeSystemName="婚姻状况代码表(GB/T 2261.2)" displayName="{m["display"]}"/>'
            )
        out.append(
            f'<ethnicGroupCode code="{eth["code"]}" codeSystem="2.16.156.10011.2.3.3.3"'
            f' codeSystemName="民族类别代码表(GB 3304)" displayName="{eth["display"]}"/>'
        )
        out.append("</patient></patientRole></recordTarget>")
        return out

    def _dx_section(self, loinc: str, title: str, conds: list[dict[str, Any]]) -> str:
        items = "".join(f"<item>{escape(c['code']['text'])}（{c['code']['coding'][0]['code']}）</item>" for c in conds)
        entries = "".join(
            '<entry><observation classCode="OBS" moodCode="EVN"><code code="DE05.01.024.00"'
            ' codeSystem="2.16.156.10011.2.2.1" codeSystemName="卫生信息数据元目录" displayName="诊断代码"/>'
            f'<value xsi:type="CD" code="{c["code"]["coding"][0]["code"]}" displayName={_a(c["code"]["text"])}'
            ' codeSystem="2.16.156.10011.2.3.3.11" codeSystemName="ICD-10"/></observation></entry>'
            for c in conds
        )
        return (
            f'<component><section><code code="{loinc}" codeSystem="2.16.840.1.113883.6.1" codeSystemName="LOINC"/>'
            f"<title>{title}</title><text><list>{items}</list></text>{entries}</section></component>"
        )
