"""Other feeds: HL7 v2.5 ER7 messages, WS/T 500 CDA documents, per-facility transaction Bundles."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from synth_region import Region

from rhip.synth.hl7v2 import esc

try:  # lxml is optional; parse safely when present
    from lxml import etree as lxml_etree  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - lxml is not a dependency
    lxml_etree = None

V3 = "{urn:hl7-org:v3}"


def test_v2_escaping_covers_every_delimiter() -> None:
    assert esc("a|b^c~d\\e&f") == "a\\F\\b\\S\\c\\R\\d\\E\\e\\T\\f"
    assert esc("王\r\n伟") == "王  伟"


def _messages(path: Path) -> list[list[str]]:
    text = path.read_bytes().decode("utf-8")  # not read_text: universal newlines would eat the \r
    assert text.endswith("\r\n")
    return [m.rstrip("\r").split("\r") for m in text.split("\r\n") if m]


def test_hl7v2_messages_are_well_formed(region: Region) -> None:
    files = sorted((region.path / "hl7v2").glob("*.hl7"))
    assert {f.stem for f in files} == {"ADT_A01", "ADT_A04", "ORU_R01", "ORM_O01"}
    for f in files:
        kind = f.stem.replace("_", "^")
        messages = _messages(f)
        assert len(messages) == region.counts["formats"]["hl7v2"][kind]
        for segs in messages:
            msh = segs[0].split("|")
            assert msh[0] == "MSH"
            assert msh[1] == "^~\\&"
            assert msh[8].startswith(kind)
            assert msh[11] == "2.5"
            assert all(
                len(s) >= 3 and s[:3].isalnum() and s[:3].isupper() and (len(s) == 3 or s[3] == "|") for s in segs
            )
            pid = next(s for s in segs if s.startswith("PID|")).split("|")
            assert pid[5].count("^") == 1  # family^given, delimiters inside names escaped
            assert "PV1" in {s[:3] for s in segs}
            if kind == "ORU^R01":
                assert any(s.startswith("OBX|") for s in segs)
            if kind.startswith("ADT"):
                assert segs[1].startswith("EVN|" + kind[4:])


def test_cda_documents_are_well_formed_ws_t_500(region: Region) -> None:
    docs = sorted((region.path / "cda").glob("*/*.xml"))
    assert len(docs) == sum(region.counts["formats"]["cda"].values()) > 0
    for doc in docs:
        data = doc.read_bytes()
        if lxml_etree is not None:
            lxml_etree.fromstring(data, lxml_etree.XMLParser(resolve_entities=False, no_network=True))
        root = ET.fromstring(data)
        assert root.tag == V3 + "ClinicalDocument"
        code = root.find(V3 + "code").get("code")
        assert code in ("C0053", "C0002")
        nn = int(code[1:])
        assert root.find(V3 + "templateId").get("root") == f"2.16.156.10011.2.1.1.{20 + nn}"
        assert root.find(V3 + "realmCode").get("code") == "CN"
        assert root.find(V3 + "typeId").get("extension") == "POCD_MT000040"
        assert root.find(V3 + "code").get("codeSystem") == "2.16.156.10011.2.4"
        patient = root.find(f"{V3}recordTarget/{V3}patientRole/{V3}patient")
        assert patient.find(V3 + "administrativeGenderCode").get("codeSystem") == "2.16.156.10011.2.3.3.4"


def test_bundles_are_transactions_with_every_resource_once(region: Region) -> None:
    seen: list[str] = []
    files = sorted((region.path / "bundles").iterdir())
    assert (region.path / "bundles" / "_region.json") in files
    for f in files:
        lines = f.read_text(encoding="utf-8").splitlines()
        for line in lines:
            b = json.loads(line)
            assert b["resourceType"] == "Bundle"
            assert b["type"] == "transaction"
            for e in b["entry"]:
                r = e["resource"]
                assert e["request"] == {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}
                seen.append(f"{r['resourceType']}/{r['id']}")
    assert len(seen) == len(set(seen)) == region.counts["total_resources"]
    assert set(seen) == set(region.by_ref)
