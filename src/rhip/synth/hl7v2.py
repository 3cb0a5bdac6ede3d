"""HL7 v2.5 ER7 output of the same events: ADT^A01/A04, ORU^R01, ORM^O01.

Messages are derived from the household's FHIR resources, so the PID segment shows exactly what
the facility registered (including identity noise). Files: ``hl7v2/<message type>.hl7`` (e.g.
``ADT_A04.hl7``); segments end with ``\\r`` and each message is followed by ``\\n``. Text is
escaped per v2.5 §2.7 (``\\F\\ \\S\\ \\R\\ \\E\\ \\T\\``). Village clinics send no v2 messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from rhip.synth.facilities import Facility, Staff

_ESC = str.maketrans({"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "~": "\\R\\", "&": "\\T\\", "\r": " ", "\n": " "})
_V2_SEX = {"male": "M", "female": "F", "other": "O", "unknown": "U"}
_CLASS = {"AMB": "O", "EMER": "E", "IMP": "I"}


def esc(text: str) -> str:
    """Escape the v2 delimiters in a text value."""
    return text.translate(_ESC)


def _ts(value: str) -> str:
    """FHIR dateTime / date → v2 TS (YYYYMMDDHHMMSS+0800 or YYYYMMDD)."""
    if len(value) == 10:
        return value.replace("-", "")
    return value[0:4] + value[5:7] + value[8:10] + value[11:13] + value[14:16] + value[17:19] + "+0800"


class Hl7Sink:
    """Writes one file per message type."""

    def __init__(self, out: Path, facilities: dict[str, Facility], staff: dict[str, Staff]) -> None:
        self.dir = out / "hl7v2"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.facilities, self.staff = facilities, staff
        self.files: dict[str, IO[bytes]] = {}
        self.counts: dict[str, int] = {}

    def _emit(self, kind: str, segments: list[str]) -> None:
        f = self.files.get(kind)
        if f is None:
            f = self.files[kind] = open(self.dir / f"{kind.replace('^', '_')}.hl7", "wb", buffering=1 << 20)  # noqa: SIM115
        f.write(("\r".join(segments) + "\r\n").encode())
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def household(self, resources: list[dict[str, Any]]) -> None:
        """Messages for one household's encounters, lab reports and orders."""
        by_id = {r["id"]: r for r in resources}
        for r in resources:
            rt = r["resourceType"]
            if rt == "Encounter":
                self._adt(r, by_id)
            elif rt == "DiagnosticReport" and r["category"][0]["coding"][0]["code"] == "LAB":
                self._oru(r, by_id)
            elif rt == "ServiceRequest" and r["category"][0]["coding"][0]["code"] != "REFERRAL":
                self._orm(r, by_id)

    def close(self) -> dict[str, int]:
        """Close files; returns counts per message type."""
        for f in self.files.values():
            f.close()
        return dict(sorted(self.counts.items()))

    # --- segments -----------------------------------------------------------------------------
    def _fac(self, ref: dict[str, str]) -> Facility:
        return self.facilities[ref["reference"][13:]]

    def _msh(self, fac: Facility, kind: str, structure: str, when: str, control: str) -> str:
        return (
            f"MSH|^~\\&|HIS|{fac.uscc}|RHIP|{fac.division}|{_ts(when)}||{kind}^{structure}|{control}"
            f"|P|2.5|||AL|NE|CHN|UNICODE UTF-8"
        )

    def _pid(self, pat: dict[str, Any]) -> str:
        ids = []
        for ident in pat["identifier"]:
            system, value = ident["system"], esc(ident["value"])
            if "/sid/mrn/" in system:
                ids.append(f"{value}^^^{system.rsplit('/', 1)[1]}^MR")
            elif system.startswith("urn:oid:"):
                code = {"2.16.156.10011.1.3": "NI", "2.16.156.10011.1.19": "HC"}.get(system[8:], "PI")
                ids.append(f"{value}^^^&{system[8:]}&ISO^{code}")
        name = pat["name"][0]
        addr = pat["address"][0]
        division = next((e["valueCode"] for e in addr.get("extension", ()) if e["url"].endswith("division-code")), "")
        street = esc("".join(addr.get("line", ())))
        city, state = esc(addr.get("city", "")), esc(addr.get("state", ""))
        xad = f"{street}^^{city}^{state}^{addr.get('postalCode', '')}^CHN^H^^{division}"
        phone = pat["telecom"][0]["value"]
        marital = next((c["code"] for c in pat.get("maritalStatus", {}).get("coding", ()) if "v3" in c["system"]), "")
        eth = pat["extension"][1]["valueCodeableConcept"]["coding"][0]
        fields = [
            "PID",
            "1",
            "",
            "~".join(ids),
            "",
            f"{esc(name['family'])}^{esc(name['given'][0])}",
            "",
            _ts(pat["birthDate"]),
            _V2_SEX[pat["gender"]],
            "",
            "",
            xad,
            "",
            f"{esc(phone)}^PRN^{'CP' if phone[0] == '1' else 'PH'}",
            "",
            "",
            marital,
            "",
            "",
            "",
            "",
            "",
            f"{eth['code']}^{esc(eth['display'])}^GB3304",
            "",
            "",
            "",
            "",
            "",
            "CHN",
        ]
        return "|".join(fields)

    def _pv1(self, enc: dict[str, Any]) -> str:
        cls = _CLASS[enc["class"]["code"]]
        fac = self._fac(enc["serviceProvider"])
        loc = esc(enc["location"][0]["location"].get("display", ""))
        role = enc["participant"][0]["individual"]["reference"][17:]
        st = self.staff.get(role)
        doctor = f"{esc(st.number)}^{esc(st.family)}^{esc(st.given)}" if st else ""
        visit = enc.get("identifier", [{"value": enc["id"]}])[0]["value"]
        f = [""] * 46
        f[0], f[1], f[2] = "PV1", "1", cls
        f[3] = f"{loc}^^^{fac.uscc}"
        f[7] = doctor
        f[19] = visit
        period = enc["period"]
        f[44] = _ts(period["start"])
        if cls == "I":
            f[45] = _ts(period["end"])
            disp = enc.get("hospitalization", {}).get("dischargeDisposition", {}).get("coding", [{}])[0].get("code", "")
            f[36] = {"home": "01", "exp": "20", "other-hcf": "02"}.get(disp, "")
        return "|".join(f).rstrip("|")

    def _adt(self, enc: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> None:
        cls = enc["class"]["code"]
        fac = self._fac(enc["serviceProvider"])
        if cls not in _CLASS or fac.kind == "village":
            return
        kind = "ADT^A01" if cls == "IMP" else "ADT^A04"
        when = enc["period"]["start"]
        segs = [
            self._msh(fac, kind, "ADT_A01", when, enc["id"]),
            f"EVN|{kind[4:]}|{_ts(when)}",
            self._pid(by_id[enc["subject"]["reference"][8:]]),
            self._pv1(enc),
        ]
        for i, dx in enumerate(enc.get("diagnosis", ()), start=1):
            cond = by_id.get(dx["condition"]["reference"][10:])
            if cond is None:
                continue
            c = cond["code"]["coding"][0]
            dtype = "A" if cls == "IMP" and i == 1 else "F"
            segs.append(f"DG1|{i}||{c['code']}^{esc(c.get('display', ''))}^I10||{_ts(cond['recordedDate'])}|{dtype}")
        self._emit(kind, segs)

    def _order_fields(self, sr: dict[str, Any]) -> tuple[str, str]:
        code = sr["code"]["coding"][0]
        system = "LN" if code["system"] == "http://loinc.org" else "L"
        return sr["identifier"][0][
            "value"
        ], f"{code['code']}^{esc(code.get('display', sr['code'].get('text', '')))}^{system}"

    def _orm(self, sr: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> None:
        enc = by_id[sr["encounter"]["reference"][10:]]
        fac = self._fac(enc["serviceProvider"])
        if fac.kind == "village":
            return
        placer, service = self._order_fields(sr)
        when = sr["authoredOn"]
        role = sr["requester"]["reference"][17:]
        st = self.staff.get(role)
        orderer = f"{esc(st.number)}^{esc(st.family)}^{esc(st.given)}" if st else ""
        segs = [
            self._msh(fac, "ORM^O01", "ORM_O01", when, sr["id"]),
            self._pid(by_id[sr["subject"]["reference"][8:]]),
            self._pv1(enc),
            f"ORC|NW|{placer}|||||||{_ts(when)}|||{orderer}",
            f"OBR|1|{placer}||{service}|||{_ts(when)}",
        ]
        self._emit("ORM^O01", segs)

    def _oru(self, dr: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> None:
        enc = by_id[dr["encounter"]["reference"][10:]]
        fac = self._fac(enc["serviceProvider"])
        sr = by_id[dr["basedOn"][0]["reference"][15:]]
        placer, service = self._order_fields(sr)
        filler = "LIS" + dr["id"][:14].upper()
        when, issued = _ts(dr["effectiveDateTime"]), _ts(dr["issued"])
        segs = [
            self._msh(fac, "ORU^R01", "ORU_R01", dr["issued"], dr["id"]),
            self._pid(by_id[dr["subject"]["reference"][8:]]),
            self._pv1(enc),
            f"ORC|RE|{placer}|{filler}||CM||||{issued}",
            f"OBR|1|{placer}|{filler}|{service}|||{when}||||||||||||||{issued}|||F",
        ]
        for i, res in enumerate(dr["result"], start=1):
            obs = by_id[res["reference"][12:]]
            c = obs["code"]["coding"][0]
            q = obs["valueQuantity"]
            rr = obs["referenceRange"][0]
            flag = obs["interpretation"][0]["coding"][0]["code"]
            segs.append(
                f"OBX|{i}|NM|{c['code']}^{esc(c.get('display', obs['code'].get('text', '')))}^LN||{q['value']}"
                f"|{esc(q['code'])}^{esc(q['unit'])}^UCUM|{rr['low']['value']}-{rr['high']['value']}|{flag}"
                f"|||F|||{_ts(obs['effectiveDateTime'])}"
            )
        self._emit("ORU^R01", segs)
