"""A case sent to NMPA with its CN regional elements: FDA's Scenario 1 (US government work) with each
CN element added by hand where the public stylesheet (docs/e2b_regional.md) places it, and a lot for
Drug B (NMPA's G.k.4.r.7 rule wants one for each suspect product). The ICH schema must accept it."""
from __future__ import annotations

from lxml import etree

from tests.e2b.conftest import fda
from tests.e2b.rich import DRUG_A, EVENT, OBS, REACTION_1, ROLE, _after, _before, _nodes, _one

CN = 'codeSystemVersion="1.1"'
DRUG_B = f"{ROLE}/h:subjectOf2/h:organizer[h:code/@code='4']/h:component[2]/h:substanceAdministration"
HOLDER_ID = "MAH-CN-0001"
TELEPHONE = "tel:+86-10-5555-0101"


def _event_obs(code: str, value: str) -> str:
    return (f'<component typeCode="COMP"><observationEvent classCode="OBS" moodCode="EVN"><code code="{code}" {OBS} {CN}/>'
            f'{value}</observationEvent></component>')


def _subject_obs(code: str, value: str) -> str:
    return (f'<subjectOf2 typeCode="SBJ"><observation classCode="OBS" moodCode="EVN"><code code="{code}" {OBS} {CN}/>'
            f'{value}</observation></subjectOf2>')


def _drug_obs(code: str, value: str, type_code: str = "REFR", reaction: str | None = None) -> str:
    ref = (f'<outboundRelationship1 typeCode="REFR"><actReference classCode="OBS" moodCode="EVN"><id root="{reaction}"/>'
           '</actReference></outboundRelationship1>') if reaction else ""
    return (f'<outboundRelationship2 typeCode="{type_code}"><observation classCode="OBS" moodCode="EVN">'
            f'<code code="{code}" {OBS} {CN}/>{value}{ref}</observation></outboundRelationship2>')


EVENT_CN = (_event_obs("CN-6", '<value xsi:type="CE" code="3"/>')  # C.1.CN.1 medical institution
            + _event_obs("CN-11", '<value xsi:type="CE" code="22"/>')  # C.1.CN.2 post-marketing, foreign
            + _event_obs("CN-12", f'<value xsi:type="CE" code="{HOLDER_ID}"/>'))  # C.1.CN.3
PATIENT_CN = (_subject_obs("CN-1", '<value xsi:type="TS" value="01"/>')  # D.CN.1 (GB 3304 code 01)
              + _subject_obs("CN-3", '<value xsi:type="ED">北京协和医院</value>')  # D.CN.3
              + _subject_obs("CN-9", '<value xsi:type="CS" code="CN"/>')  # D.CN.4
              + _subject_obs("CN-10", f'<value xsi:type="TEL" value="{TELEPHONE}"/>')  # D.CN.5: never kept
              + _subject_obs("CN-13", '<value xsi:type="ED">妊娠12周</value>'))  # D.CN.6
DRUG_CN = (_drug_obs("CN-7", '<value xsi:type="ST">阿基仑赛注射液</value>')  # G.k.CN.1
           + _drug_obs("CN-14", '<value xsi:type="ST">输液器</value>')  # G.k.CN.2
           + _drug_obs("CN-15", '<value xsi:type="BL" value="true"/>')  # G.k.CN.3
           + _drug_obs("CN-16", '<value xsi:type="ST">国药准字S20210001</value>')  # G.k.CN.4
           + _drug_obs("CN-4", '<value xsi:type="CE" code="1"/>', "PERT", REACTION_1)  # G.k.9.i.CN.1
           + _drug_obs("CN-5", '<value xsi:type="CE" code="2"/>', "PERT", REACTION_1))  # G.k.9.i.CN.2
DOSAGE_CN = (f'<inboundRelationship typeCode="REFR"><observation classCode="OBS" moodCode="EVN"><code code="CN-8" {OBS} '
             f'{CN}/><value xsi:type="TS" value="20261231"/></observation></inboundRelationship>')  # G.k.4.r.CN.1
LOT_B = ('<outboundRelationship2 typeCode="COMP"><substanceAdministration classCode="SBADM" moodCode="EVN">'
         '<consumable typeCode="CSM"><instanceOfKind classCode="INST"><productInstanceInstance classCode="MMAT" '
         'determinerCode="INSTANCE"><lotNumberText>LOT-B1</lotNumberText></productInstanceInstance>'
         '<kindOfProduct classCode="MMAT" determinerCode="KIND"><code nullFlavor="NI"/></kindOfProduct>'
         '</instanceOfKind></consumable></substanceAdministration></outboundRelationship2>')


def cn_icsr(receiver: str | None = None, event: str = EVENT_CN) -> bytes:
    tree = etree.ElementTree(etree.fromstring(fda("Scenario1.xml")))
    _after(_one(tree, f"{EVENT}/h:component[h:observationEvent/h:code/@code='23']"), event)
    _before(_one(tree, f"{ROLE}/h:subjectOf2[1]"), PATIENT_CN)
    drug = _one(tree, DRUG_A)
    _before(_one(drug, "h:inboundRelationship[1]"), DRUG_CN)
    _one(drug, "h:outboundRelationship2/h:substanceAdministration").append(_nodes(DOSAGE_CN)[0])
    _after(_one(tree, f"{DRUG_B}/h:consumable"), LOT_B)
    if receiver:
        for rid in tree.xpath("//h:receiver/h:device/h:id", namespaces={"h": "urn:hl7-org:v3"}):
            rid.set("extension", receiver)
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
