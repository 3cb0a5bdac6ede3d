"""Identifier systems, code systems and extension URLs written into the synthetic data.

OIDs for Chinese identifiers follow ``standards.md`` §3.5 (CDA header usage as implemented by
vendors of WS/T 482/483/500; the official 可维护对象OID分配表 was not read, so these are the
"V-impl" choices): 1.2 健康档案编号, 1.3 身份证号, 1.4 员工工号, 1.5 医疗卫生机构, 1.11 门(急)诊号,
1.12 住院号, 1.19 健康卡号, 1.24 电子申请单编号. National code systems use the 2.16.156.10011.2.3.3.x
roots (.3 GB 3304, .4 GB/T 2261.1, .5 GB/T 2261.2). Everything the standards do not define lives
under :data:`CANONICAL`, a placeholder until the project chooses its canonical base URL.
"""

from __future__ import annotations

from rhip.canonical import CANONICAL as CANONICAL

# Identifier systems (standards.md §3.5)
SID_HEALTH_RECORD = "urn:oid:2.16.156.10011.1.2"  # 城乡居民健康档案编号 (N17)
SID_ID_CARD = "urn:oid:2.16.156.10011.1.3"  # 居民身份证号 (GB 11643)
SID_STAFF = "urn:oid:2.16.156.10011.1.4"  # 医务人员工号
SID_ORG = "urn:oid:2.16.156.10011.1.5"  # 医疗卫生机构代码: we carry the 统一社会信用代码 (GB 32100)
SID_OUTPATIENT_NO = "urn:oid:2.16.156.10011.1.11"  # 门(急)诊号
SID_INPATIENT_NO = "urn:oid:2.16.156.10011.1.12"  # 住院号
SID_HEALTH_CARD = "urn:oid:2.16.156.10011.1.19"  # 居民健康卡号
SID_ORDER_NO = "urn:oid:2.16.156.10011.1.24"  # 电子申请单编号
OID_DOCUMENT = "2.16.156.10011.1.1"  # 文档流水号 (CDA ClinicalDocument/id root)

SID_DIVISION = f"{CANONICAL}/sid/division-code"  # GB/T 2260 (6 digits) / 统计用区划代码 (9, 12)
SID_HOUSEHOLD = f"{CANONICAL}/sid/household-number"  # 户号 in the population register
SID_PHYSICIAN_LICENCE = f"{CANONICAL}/sid/physician-licence"  # 医师执业证书编码 (synthetic format)
SID_NURSE_LICENCE = f"{CANONICAL}/sid/nurse-licence"  # 护士执业证书编号 (synthetic format)
SID_VILLAGE_DOCTOR_LICENCE = f"{CANONICAL}/sid/village-doctor-licence"  # 乡村医生执业证书
SID_REPORT_CARD = f"{CANONICAL}/sid/infectious-report-card"  # 传染病报告卡 卡片编码


def sid_mrn(uscc: str) -> str:
    """Per-facility patient-number (就诊卡号/病案号) system: one identity domain per facility."""
    return f"{CANONICAL}/sid/mrn/{uscc}"


# National code systems (standards.md §3.5, §4.4)
CS_SEX_GB = "urn:oid:2.16.156.10011.2.3.3.4"  # GB/T 2261.1 人的性别代码
CS_MARITAL_GB = "urn:oid:2.16.156.10011.2.3.3.5"  # GB/T 2261.2 婚姻状况代码
CS_ETHNIC_GB = "urn:oid:2.16.156.10011.2.3.3.3"  # GB 3304 民族
CS_ICD10 = "http://hl7.org/fhir/sid/icd-10"
CS_LOINC = "http://loinc.org"
CS_ATC = "http://www.whocc.no/atc"
CS_CVX = "http://hl7.org/fhir/sid/cvx"
CS_SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"

# Local code systems (WS 364 tables without a verified OID, and our own tables)
CS_ICD9CM3 = f"{CANONICAL}/CodeSystem/icd-9-cm-3"  # 手术操作 ICD-9-CM-3
CS_ROUTE = f"{CANONICAL}/CodeSystem/ws364-CV06.00.102"  # 用药途径代码
CS_ADDRESS_CATEGORY = f"{CANONICAL}/CodeSystem/ws364-CV02.01.205"  # 地址类别代码
CS_PATIENT_RESIDENCE = f"{CANONICAL}/CodeSystem/ws364-CV02.01.104"  # 传染病患者归属
CS_VISIT_TYPE = f"{CANONICAL}/CodeSystem/visit-type"  # 就诊类别 1门诊 2急诊 3住院 4体检 9其他
CS_SERVICE = f"{CANONICAL}/CodeSystem/service-type"  # 服务类型 (公卫/医疗服务项目)
CS_DEPARTMENT = f"{CANONICAL}/CodeSystem/department"  # 诊疗科目
CS_FACILITY_KIND = f"{CANONICAL}/CodeSystem/facility-kind"  # 机构类别
CS_HOSPITAL_LEVEL = f"{CANONICAL}/CodeSystem/hospital-level"  # 医院等级
CS_TITLE = f"{CANONICAL}/CodeSystem/professional-title"  # 专业技术职务
CS_QUALIFICATION = f"{CANONICAL}/CodeSystem/practice-certificate"  # 执业证书类别
CS_DRUG = f"{CANONICAL}/CodeSystem/drug"  # 本地药品目录
CS_VACCINE = f"{CANONICAL}/CodeSystem/nip-child-schedule"  # 国家免疫规划疫苗 (bundled code system)
CS_LAB_LOCAL = f"{CANONICAL}/CodeSystem/lab-item"  # 无 LOINC 的检验/检查项目
CS_NOTIFIABLE_CLASS = f"{CANONICAL}/CodeSystem/notifiable-disease-class"  # 甲/乙/丙类
CS_CASE_CLASS = f"{CANONICAL}/CodeSystem/infectious-case-classification"  # 病例分类
CS_CAREPLAN = f"{CANONICAL}/CodeSystem/care-plan-category"  # 家庭医生签约, 慢病管理
CS_COMMUNICATION = f"{CANONICAL}/CodeSystem/communication-category"  # 传染病报告卡
CS_RELATION_CN = f"{CANONICAL}/CodeSystem/household-relation"  # 与户主关系

# Extensions
EXT_DIVISION = f"{CANONICAL}/StructureDefinition/address-division-code"
EXT_ADDRESS_CATEGORY = f"{CANONICAL}/StructureDefinition/address-category"
EXT_SEX_GB = f"{CANONICAL}/StructureDefinition/sex-gb2261"
EXT_ETHNICITY = f"{CANONICAL}/StructureDefinition/ethnicity-gb3304"
EXT_MIGRANT = f"{CANONICAL}/StructureDefinition/floating-population"
EXT_HOSPITAL_LEVEL = f"{CANONICAL}/StructureDefinition/hospital-level"
EXT_PATIENT_RESIDENCE = f"{CANONICAL}/StructureDefinition/infectious-patient-residence"

# HL7 terminology
TH = "http://terminology.hl7.org/CodeSystem"
CS_CONDITION_CLINICAL = f"{TH}/condition-clinical"
CS_CONDITION_VER = f"{TH}/condition-ver-status"
CS_CONDITION_CATEGORY = f"{TH}/condition-category"
CS_OBS_CATEGORY = f"{TH}/observation-category"
CS_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CS_V2_0074 = f"{TH}/v2-0074"
CS_V2_0203 = f"{TH}/v2-0203"
CS_ROLE_CODE = f"{TH}/v3-RoleCode"
CS_MARITAL_V3 = f"{TH}/v3-MaritalStatus"
CS_ORG_TYPE = f"{TH}/organization-type"
CS_PRACTITIONER_ROLE = f"{TH}/practitioner-role"
CS_LOCATION_PHYSICAL = f"{TH}/location-physical-type"
CS_INTERPRETATION = f"{TH}/v3-ObservationInterpretation"
CS_ROUTE_V3 = f"{TH}/v3-RouteOfAdministration"
CS_ACT_SITE = f"{TH}/v3-ActSite"
CS_DISCHARGE = f"{TH}/discharge-disposition"
CS_ADMIT_SOURCE = f"{TH}/admit-source"
CS_PARTICIPATION = f"{TH}/v3-ParticipationType"
CS_IMM_FUNCTION = f"{TH}/v2-0443"
CS_CONFIDENTIALITY = f"{TH}/v3-Confidentiality"
