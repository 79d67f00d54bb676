"""Valid field sets for every catalog category, shared by the catalog tests and the
integration tests (one realistic record per category)."""

from __future__ import annotations

import copy
from typing import Any

AUTHORITY = "11610800MB1234567E"  # a valid USCC (check character included)

SAMPLES: dict[str, dict[str, Any]] = {
    "admin_licence": {
        "decision_document_name": "食品经营许可决定书",
        "decision_no": "榆市监食许〔2026〕15号",
        "licence_types": ["general"],
        "certificate_name": "食品经营许可证",
        "licence_no": "JY16108020012345",
        "licence_content": "预包装食品销售（含冷藏冷冻食品）",
        "decision_date": "2026-03-02",
        "valid_from": "2026-03-02",
        "valid_until": "2031-03-01",
        "authority_name": "榆林市市场监督管理局",
        "authority_uscc": AUTHORITY,
    },
    "admin_penalty": {
        "decision_no": "榆环罚〔2026〕8号",
        "violation_type": "超标排放大气污染物",
        "violation_facts": "2026年1月在线监测数据显示颗粒物排放浓度超标。",
        "legal_basis": "《中华人民共和国大气污染防治法》第九十九条第二项",
        "penalty_types": ["fine"],
        "penalty_content": "罚款人民币伍拾万元整",
        "fine_amount_fen": 50_000_000,
        "dishonesty_severity": "general",
        "decision_date": "2026-02-10",
        "authority_name": "榆林市生态环境局",
        "authority_uscc": AUTHORITY,
    },
    "serious_dishonesty_list": {
        "list_name": "重大税收违法失信主体",
        "domain": "税务",
        "determination_no": "榆税稽罚〔2025〕101号",
        "dishonest_conduct": "虚开增值税专用发票",
        "legal_basis": "《重大税收违法失信主体信息公布管理办法》",
        "listed_date": "2025-11-20",
        "punitive_measures": ["限制取得政府供应土地", "纳税信用直接判为D级"],
        "authority_name": "国家税务总局榆林市税务局",
        "authority_uscc": AUTHORITY,
    },
    "judgment_defaulter": {
        "case_no": "（2025）陕0802执1234号",
        "court_name": "榆林市榆阳区人民法院",
        "enforcement_basis_no": "（2024）陕0802民初567号",
        "enforcement_basis_authority": "榆林市榆阳区人民法院",
        "obligations": "支付货款人民币120万元及利息",
        "performance_status": "not_performed",
        "circumstances": ["able_but_refuses", "violates_property_reporting"],
        "filing_date": "2025-05-06",
        "listed_date": "2025-09-01",
        "listing_period_months": 24,
    },
    "tax_credit_rating": {
        "evaluation_year": 2025,
        "rating": "A",
        "score": 95.5,
        "assessed_date": "2026-04-15",
        "tax_authority_name": "国家税务总局榆林市税务局",
        "tax_authority_uscc": AUTHORITY,
    },
    "utility_arrears": {
        "utility_type": "electricity",
        "utility_name": "国网陕西省电力有限公司榆林供电公司",
        "utility_uscc": AUTHORITY,
        "account_no": "6100123456",
        "arrears_amount_fen": 1_234_500,
        "arrears_since": "2025-07-01",
        "overdue_months": 6,
        "notice_dates": ["2025-09-01", "2025-11-01"],
        "as_of_date": "2026-01-31",
        "status": "outstanding",
    },
    "credit_commitment": {
        "commitment_type": "approval_substitute",
        "commitment_no": "YL-CN-2026-000123",
        "matter": "食品经营许可告知承诺",
        "content": "本单位承诺所提交材料真实有效，并在三个月内补齐现场核查条件。",
        "committed_date": "2026-03-01",
        "valid_until": "2026-06-01",
        "accepting_authority_name": "榆林市行政审批服务局",
        "accepting_authority_uscc": AUTHORITY,
        "fulfilment_status": "pending",
    },
    "honour_red_list": {
        "honour_name": "守合同重信用企业",
        "list_type": "守合同重信用企业",
        "award_document_no": "陕市监发〔2025〕30号",
        "award_date": "2025-12-01",
        "valid_until": "2027-11-30",
        "incentive_measures": ["行政审批绿色通道", "降低抽查比例"],
        "awarding_authority_name": "陕西省市场监督管理局",
        "awarding_authority_uscc": AUTHORITY,
    },
}


def sample_fields(category: str) -> dict[str, Any]:
    """A fresh copy of a valid ``fields`` object for ``category``."""
    return copy.deepcopy(SAMPLES[category])
