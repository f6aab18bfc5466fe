"""A case that carries every E2B(R3) section the service keeps: FDA's Scenario 1 (US government work)
with the elements its instances lack added by hand, each fragment marked with its E2B element.

FDA's instances have no tests (F.r), death (D.9), parent (D.10), weight or height, dosage amounts,
drug-reaction intervals, literature, other case ids or sender's diagnosis; the fragments below follow the ICH
E2B(R3) implementation guide's XPaths for them. The result must pass the ICH schema (the tests
check), so a fragment in the wrong place fails loudly.
"""
from __future__ import annotations

from lxml import etree

from pv_service.e2b.reader import NS
from tests.e2b.conftest import fda

H = "urn:hl7-org:v3"
WRAP = f'<w xmlns="{H}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{{}}</w>'
OBS = 'codeSystem="2.16.840.1.113883.3.989.2.1.1.19"'
MEDDRA = 'codeSystem="2.16.840.1.113883.6.163" codeSystemVersion="25.0"'
EVENT = "/h:MCCI_IN200100UV01/h:PORR_IN049016UV/h:controlActProcess/h:subject/h:investigationEvent"
ROLE = f"{EVENT}/h:component/h:adverseEventAssessment/h:subject1/h:primaryRole"
DRUG_A = f"{ROLE}/h:subjectOf2/h:organizer[h:code/@code='4']/h:component[1]/h:substanceAdministration"
REACTION_1 = "154eb889-958b-45f2-a02f-42d4d6f4657f"
REACTION_2 = "154eb889-958b-45f2-a02f-42d4d6f4555f"

PARENT = f"""<role classCode="PRS"><code code="PRN" codeSystem="2.16.840.1.113883.5.111"/><!-- D.10 -->
  <associatedPerson classCode="PSN" determinerCode="INSTANCE"><name>AB</name><!-- D.10.1 -->
    <administrativeGenderCode code="2" codeSystem="1.0.5218"/><birthTime value="19750301"/></associatedPerson>
  <subjectOf2 typeCode="SBJ"><observation classCode="OBS" moodCode="EVN"><code code="3" {OBS}/>
    <value xsi:type="PQ" value="39" unit="a"/></observation></subjectOf2><!-- D.10.2.2 -->
  <subjectOf2 typeCode="SBJ"><observation classCode="OBS" moodCode="EVN"><code code="22" {OBS}/>
    <value xsi:type="TS" value="20140101"/></observation></subjectOf2><!-- D.10.3 -->
  <subjectOf2 typeCode="SBJ"><observation classCode="OBS" moodCode="EVN"><code code="7" {OBS}/>
    <value xsi:type="PQ" value="60" unit="kg"/></observation></subjectOf2><!-- D.10.4 -->
  <subjectOf2 typeCode="SBJ"><observation classCode="OBS" moodCode="EVN"><code code="17" {OBS}/>
    <value xsi:type="PQ" value="165" unit="cm"/></observation></subjectOf2><!-- D.10.5 -->
  <subjectOf2 typeCode="SBJ"><organizer classCode="CATEGORY" moodCode="EVN">
    <code code="1" codeSystem="2.16.840.1.113883.3.989.2.1.1.20"/><component typeCode="COMP">
    <observation classCode="OBS" moodCode="EVN"><code code="10012735" {MEDDRA}/>
    <effectiveTime xsi:type="IVL_TS"><low value="2010"/></effectiveTime></observation></component>
  </organizer></subjectOf2><!-- D.10.7.1.r -->
  <subjectOf2 typeCode="SBJ"><organizer classCode="CATEGORY" moodCode="EVN">
    <code code="2" codeSystem="2.16.840.1.113883.3.989.2.1.1.20"/><component typeCode="COMP">
    <substanceAdministration classCode="SBADM" moodCode="EVN"><consumable typeCode="CSM"><instanceOfKind classCode="INST">
    <kindOfProduct classCode="MMAT" determinerCode="KIND"><name>Folic acid</name></kindOfProduct></instanceOfKind>
    </consumable></substanceAdministration></component></organizer></subjectOf2><!-- D.10.8.r -->
</role>"""
STUDY = """<subjectOf1 typeCode="SBJ"><researchStudy classCode="CLNTRL" moodCode="EVN">
  <id extension="CT-7" root="2.16.840.1.113883.3.989.2.1.3.5"/><!-- C.5.3 -->
  <code code="2" codeSystem="2.16.840.1.113883.3.989.2.1.1.8"/><!-- C.5.4 individual patient use -->
  <title>Long-term follow-up of CAR-T recipients</title><!-- C.5.2 -->
  <authorization typeCode="AUTH"><studyRegistration classCode="ACT" moodCode="EVN">
    <id extension="NCT00000007" root="2.16.840.1.113883.3.989.2.1.3.6"/><!-- C.5.1.r.1 -->
    <author typeCode="AUT"><territorialAuthority classCode="TERR"><governingPlace classCode="COUNTRY"
      determinerCode="INSTANCE"><code code="US" codeSystem="1.0.3166.1.2.2"/></governingPlace></territorialAuthority>
    </author></studyRegistration></authorization></researchStudy></subjectOf1>"""
BODY = f"""<subjectOf2 typeCode="SBJ"><observation classCode="OBS" moodCode="EVN"><code code="22" {OBS}/>
  <value xsi:type="TS" value="20140901"/></observation></subjectOf2><!-- D.6 -->
<subjectOf2 typeCode="SBJ"><observation classCode="OBS" moodCode="EVN"><code code="16" {OBS}/>
  <value xsi:type="PQ" value="12" unit="wk"/></observation></subjectOf2><!-- D.2.2.1 -->
<subjectOf2 typeCode="SBJ"><observation classCode="OBS" moodCode="EVN"><code code="7" {OBS}/>
  <value xsi:type="PQ" value="71.5" unit="kg"/></observation></subjectOf2><!-- D.3 -->
<subjectOf2 typeCode="SBJ"><observation classCode="OBS" moodCode="EVN"><code code="17" {OBS}/>
  <value xsi:type="PQ" value="178" unit="cm"/></observation></subjectOf2><!-- D.4 -->"""
HISTORY = f"""<component typeCode="COMP"><observation classCode="OBS" moodCode="EVN">
  <code code="10020772" {MEDDRA}/><!-- D.7.1.r.1 hypertension -->
  <effectiveTime xsi:type="IVL_TS"><low value="2009"/><high value="20140301"/></effectiveTime><!-- D.7.1.r.2/4 -->
  <outboundRelationship2 typeCode="COMP"><observation classCode="OBS" moodCode="EVN"><code code="10" {OBS}/>
    <value xsi:type="ED">treated with diet</value></observation></outboundRelationship2><!-- D.7.1.r.5 -->
  <outboundRelationship2 typeCode="EXPL"><observation classCode="OBS" moodCode="EVN"><code code="38" {OBS}/>
    <value xsi:type="BL" value="true"/></observation></outboundRelationship2><!-- D.7.1.r.6 -->
  <inboundRelationship typeCode="REFR"><observation classCode="OBS" moodCode="EVN"><code code="13" {OBS}/>
    <value xsi:type="BL" value="false"/></observation></inboundRelationship><!-- D.7.1.r.3 -->
</observation></component>
<component typeCode="COMP"><observation classCode="OBS" moodCode="EVN"><code code="11" {OBS}/>
  <value xsi:type="BL" value="true"/></observation></component><!-- D.7.3 -->"""
PAST_DRUG = """<effectiveTime xsi:type="IVL_TS"><low value="20090101"/><high value="20100601"/></effectiveTime>
<!-- D.8.r.4/5 (inserted before the consumable) -->"""
PAST_DRUG_AFTER = f"""<outboundRelationship2 typeCode="RSON"><observation classCode="OBS" moodCode="EVN">
  <code code="19" {OBS}/><value xsi:type="CE" code="10001011" {MEDDRA}/></observation></outboundRelationship2>
<outboundRelationship2 typeCode="CAUS"><observation classCode="OBS" moodCode="EVN">
  <code code="29" {OBS}/><value xsi:type="CE" code="10020321" {MEDDRA}/></observation></outboundRelationship2>"""
DEATH = f"""<subjectOf2 typeCode="SBJ"><observation classCode="OBS" moodCode="EVN"><code code="32" {OBS}/>
  <value xsi:type="CE" code="10038695" {MEDDRA}><originalText>respiratory failure</originalText></value>
</observation></subjectOf2><!-- D.9.2.r -->
<subjectOf2 typeCode="SBJ"><observation classCode="OBS" moodCode="EVN"><code code="5" {OBS}/>
  <value xsi:type="BL" value="true"/><!-- D.9.3 -->
  <outboundRelationship2 typeCode="DRIV"><observation classCode="OBS" moodCode="EVN"><code code="8" {OBS}/>
    <value xsi:type="CE" code="10037377" {MEDDRA}><originalText>pulmonary embolism</originalText></value>
  </observation></outboundRelationship2><!-- D.9.4.r -->
</observation></subjectOf2>"""
TESTS = f"""<subjectOf2 typeCode="SBJ"><organizer classCode="CATEGORY" moodCode="EVN">
  <code code="3" codeSystem="2.16.840.1.113883.3.989.2.1.1.20"/>
  <component typeCode="COMP"><observation classCode="OBS" moodCode="EVN">
    <code code="10012661" {MEDDRA}><originalText>D-dimer</originalText></code><!-- F.r.2 -->
    <effectiveTime value="20141011"/><!-- F.r.1 -->
    <value xsi:type="IVL_PQ"><center value="4.2" unit="mg/L"/></value><!-- F.r.3.2/3 -->
    <referenceRange typeCode="REFV"><observationRange classCode="OBS" moodCode="EVN.CRT">
      <value xsi:type="PQ" value="0" unit="mg/L"/><interpretationCode code="L" codeSystem="2.16.840.1.113883.5.83"/>
    </observationRange></referenceRange><!-- F.r.4 -->
    <referenceRange typeCode="REFV"><observationRange classCode="OBS" moodCode="EVN.CRT">
      <value xsi:type="PQ" value="0.5" unit="mg/L"/><interpretationCode code="H" codeSystem="2.16.840.1.113883.5.83"/>
    </observationRange></referenceRange><!-- F.r.5 -->
    <outboundRelationship2 typeCode="REFR"><observation classCode="OBS" moodCode="EVN"><code code="10" {OBS}/>
      <value xsi:type="ED">repeated on day 3</value></observation></outboundRelationship2><!-- F.r.6 -->
    <outboundRelationship2 typeCode="PERT"><observation classCode="OBS" moodCode="EVN"><code code="25" {OBS}/>
      <value xsi:type="BL" value="true"/></observation></outboundRelationship2><!-- F.r.7 -->
  </observation></component>
  <component typeCode="COMP"><observation classCode="OBS" moodCode="EVN">
    <code code="10047566" {MEDDRA}><originalText>venous ultrasound</originalText></code>
    <effectiveTime value="20141012"/>
    <value xsi:type="ED">thrombus in the left popliteal vein</value><!-- F.r.3.4 -->
    <interpretationCode code="1" codeSystem="2.16.840.1.113883.3.989.2.1.1.12"/><!-- F.r.3.1 positive -->
  </observation></component>
</organizer></subjectOf2>"""
MATRIX = f"""<outboundRelationship1 typeCode="SAS"><pauseQuantity value="12" unit="d"/>
  <actReference classCode="OBS" moodCode="EVN"><id root="{REACTION_1}"/></actReference></outboundRelationship1>
<!-- G.k.9.i.3.1 -->
<outboundRelationship1 typeCode="SAE"><pauseQuantity value="2" unit="h"/>
  <actReference classCode="OBS" moodCode="EVN"><id root="{REACTION_1}"/></actReference></outboundRelationship1>
<!-- G.k.9.i.3.2 -->"""
DOSAGE = """<outboundRelationship2 typeCode="COMP"><substanceAdministration classCode="SBADM" moodCode="EVN">
  <text>one infusion</text><!-- G.k.4.r.8 -->
  <effectiveTime xsi:type="SXPR_TS"><comp xsi:type="PIVL_TS"><period value="1" unit="d"/></comp><!-- G.k.4.r.2/3 -->
    <comp xsi:type="IVL_TS" operator="A"><low value="20140928"/><high value="20140929"/></comp></effectiveTime>
  <!-- G.k.4.r.4/5 -->
  <routeCode code="042" codeSystem="0.4.0.127.0.16.1.1.2.6"><originalText>Intravenous</originalText></routeCode>
  <doseQuantity value="2.5" unit="10*6"/><!-- G.k.4.r.1a/b -->
  <consumable typeCode="CSM"><instanceOfKind classCode="INST">
    <productInstanceInstance classCode="MMAT" determinerCode="INSTANCE"><lotNumberText>LOT-77A</lotNumberText>
    </productInstanceInstance><!-- G.k.4.r.7 -->
    <kindOfProduct classCode="MMAT" determinerCode="KIND"><formCode><originalText>suspension for infusion</originalText>
    </formCode></kindOfProduct><!-- G.k.4.r.9.1 -->
  </instanceOfKind></consumable>
</substanceAdministration></outboundRelationship2>"""
CUMULATIVE = f"""<outboundRelationship2 typeCode="SUMM"><observation classCode="OBS" moodCode="EVN">
  <code code="14" {OBS}/><value xsi:type="PQ" value="5" unit="10*6"/></observation></outboundRelationship2>
<!-- G.k.5a/b -->"""
RECURRENCE = f"""<outboundRelationship2 typeCode="PERT"><observation classCode="OBS" moodCode="EVN">
  <code code="31" {OBS}/><value xsi:type="CE" code="2" codeSystem="2.16.840.1.113883.3.989.2.1.1.16"/>
  <outboundRelationship1 typeCode="REFR"><actReference classCode="OBS" moodCode="EVN"><id root="{REACTION_1}"/>
  </actReference></outboundRelationship1></observation></outboundRelationship2><!-- G.k.9.i.4 -->"""
REACTION_END = '<high value="20141101"/>'  # E.i.5
CONFIRMED = f"""<outboundRelationship2 typeCode="PERT"><observation classCode="OBS" moodCode="EVN">
  <code code="24" {OBS}/><value xsi:type="BL" value="true"/></observation></outboundRelationship2><!-- E.i.8 -->"""
DIAGNOSIS = f"""<component1 typeCode="COMP"><observationEvent classCode="OBS" moodCode="EVN"><code code="15" {OBS}/>
  <value xsi:type="CE" code="10051055" {MEDDRA}/><author typeCode="AUT"><assignedEntity classCode="ASSIGNED">
  <code code="1" codeSystem="2.16.840.1.113883.3.989.2.1.1.21"/></assignedEntity></author></observationEvent>
</component1><!-- H.3.r -->"""
REFERENCES = """<reference typeCode="REFR"><document classCode="DOC" moodCode="EVN">
  <code code="1" codeSystem="2.16.840.1.113883.3.989.2.1.1.27"/><title>discharge letter</title></document></reference>
<!-- C.1.6.1.r.1 -->
<reference typeCode="REFR"><document classCode="DOC" moodCode="EVN">
  <code code="2" codeSystem="2.16.840.1.113883.3.989.2.1.1.27"/>
  <bibliographicDesignationText>Doe J. Thrombosis after cell therapy. J Cell Ther. 2014;1:1-2.</bibliographicDesignationText>
</document></reference><!-- C.4.r.1 -->"""
SECOND_SOURCE = """<outboundRelationship typeCode="SPRT"><relatedInvestigation classCode="INVSTG" moodCode="EVN">
  <code code="2" codeSystem="2.16.840.1.113883.3.989.2.1.1.22"/><subjectOf2 typeCode="SUBJ">
  <controlActEvent classCode="CACT" moodCode="EVN"><author typeCode="AUT"><assignedEntity classCode="ASSIGNED">
  <assignedPerson classCode="PSN" determinerCode="INSTANCE"><asQualifiedEntity classCode="QUAL">
  <code code="5" codeSystem="2.16.840.1.113883.3.989.2.1.1.6"/></asQualifiedEntity><asLocatedEntity classCode="LOCE">
  <location classCode="COUNTRY" determinerCode="INSTANCE"><code code="GB" codeSystem="1.0.3166.1.2.2"/></location>
  </asLocatedEntity></assignedPerson></assignedEntity></author></controlActEvent></subjectOf2></relatedInvestigation>
</outboundRelationship><!-- C.2.r (second source: consumer, GB) -->
<outboundRelationship typeCode="SPRT"><relatedInvestigation classCode="INVSTG" moodCode="EVN">
  <code nullFlavor="NA"/><subjectOf2 typeCode="SUBJ">
  <controlActEvent classCode="CACT" moodCode="EVN"><id extension="US-APHARMA-0001" root="2.16.840.1.113883.3.989.2.1.3.2"/>
  </controlActEvent></subjectOf2></relatedInvestigation></outboundRelationship><!-- C.1.10.r -->"""
OTHER_IDS = """<subjectOf1 typeCode="SUBJ"><controlActEvent classCode="CACT" moodCode="EVN">
  <id assigningAuthorityName="EVHUMAN" extension="EU-EC-123" root="2.16.840.1.113883.3.989.2.1.3.3"/>
</controlActEvent></subjectOf1><!-- C.1.9.1.r.1/2 -->"""
AMENDMENT = """<subjectOf2 typeCode="SUBJ"><investigationCharacteristic classCode="OBS" moodCode="EVN">
  <code code="3" codeSystem="2.16.840.1.113883.3.989.2.1.1.23"/>
  <value xsi:type="CE" code="2" codeSystem="2.16.840.1.113883.3.989.2.1.1.5"/></investigationCharacteristic></subjectOf2>
<!-- C.1.11.1 amendment -->
<subjectOf2 typeCode="SUBJ"><investigationCharacteristic classCode="OBS" moodCode="EVN">
  <code code="4" codeSystem="2.16.840.1.113883.3.989.2.1.1.23"/>
  <value xsi:type="CE"><originalText>lot number corrected</originalText></value></investigationCharacteristic>
</subjectOf2><!-- C.1.11.2 -->"""


def _nodes(xml: str) -> list:
    return list(etree.fromstring(WRAP.format(xml)))


def _one(tree, path: str):
    (found,) = tree.xpath(path, namespaces=NS)
    return found


def _before(anchor, xml: str) -> None:
    for n in _nodes(xml):
        anchor.addprevious(n)


def _after(anchor, xml: str) -> None:
    for n in reversed(_nodes(xml)):
        anchor.addnext(n)


def _append(parent, xml: str) -> None:
    for n in _nodes(xml):
        parent.append(n)


def rich_icsr() -> bytes:
    tree = etree.ElementTree(etree.fromstring(fda("Scenario1.xml")))
    player = _one(tree, f"{ROLE}/h:player1")
    _one(player, "h:birthTime").addnext(_nodes('<deceasedTime value="20141020"/>')[0])  # D.9.1
    _append(player, PARENT)
    _after(player, STUDY)
    _before(_one(tree, f"{ROLE}/h:subjectOf2[h:organizer/h:code/@code='1']"), BODY)
    _append(_one(tree, f"{ROLE}/h:subjectOf2/h:organizer[h:code/@code='1']"), HISTORY)
    past = _one(tree, f"{ROLE}/h:subjectOf2/h:organizer[h:code/@code='2']/h:component/h:substanceAdministration")
    _before(_one(past, "h:consumable"), PAST_DRUG)
    _append(past, PAST_DRUG_AFTER)
    _before(_one(tree, f"{ROLE}/h:subjectOf2[h:observation/h:code/@code='29'][1]"), DEATH)
    _after(_one(tree, f"{ROLE}/h:subjectOf2[h:observation/h:code/@code='29'][2]"), TESTS)
    reaction = _one(tree, f"{ROLE}/h:subjectOf2/h:observation[h:id/@root='{REACTION_1}']")
    _one(reaction, "h:effectiveTime").append(_nodes(REACTION_END)[0])
    _append(reaction, CONFIRMED)
    drug = _one(tree, DRUG_A)
    _after(_one(drug, "h:consumable"), MATRIX)
    _after(_one(drug, "h:outboundRelationship2"), DOSAGE + CUMULATIVE + RECURRENCE)
    _append(_one(tree, f"{EVENT}/h:component/h:adverseEventAssessment"), DIAGNOSIS)
    event = _one(tree, EVENT)
    _after(_one(event, "h:availabilityTime"), REFERENCES)
    _after(_one(event, "h:outboundRelationship[h:priorityNumber]"), SECOND_SOURCE)
    _after(_one(event, "h:subjectOf1"), OTHER_IDS)
    flag = _one(event, "h:subjectOf2/h:investigationCharacteristic[h:code/@code='2']/h:value")
    del flag.attrib["nullFlavor"]
    flag.set("value", "true")  # C.1.9.1
    _append(event, AMENDMENT)
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
