"""Code lists shared across the service, with their Chinese labels: every label table has its home here."""

from __future__ import annotations

# The seven benefit mechanisms (带贫方式) of a county system, in their official order.
MECHANISMS = {
    "seed_supply": "统一供种",
    "technical_guidance": "技术指导",
    "purchase": "保底价或优惠价回收",
    "employment": "吸纳就业",
    "processing": "加工延伸产业链",
    "land_equity": "土地经营权林权入股或流转",
    "other": "其他",
}

# Stored fields by their Chinese names (the audit log's changes, 字段：旧值 → 新值); a nested
# field reads as its parent's name and its own ("年度采购计划 · 预留比例").
FIELD_LABELS = {
    "active": "启用",
    "address": "地址",
    "amount_fen": "金额",
    "annual_output": "年产量",
    "annual_output_unit": "年产量单位",
    "annual_value_fen": "年产值",
    "barcode": "条形码",
    "benefit_mechanisms": "带贫方式",
    "benefit_rate_bp": "带贫比例",
    "benefit_rate_history": "带贫比例",
    "brand": "品牌",
    "cabinet_no": "柜号",
    "canteen_id": "单位食堂",
    "category": "品类",
    "certificate_no": "认定证书编号",
    "certificates": "认定证书",
    "certified": "认定产品",
    "certified_at": "认定时间",
    "channel": "渠道",
    "channel_skus": "渠道商品编码",
    "contact": "联系人",
    "contact_phone": "联系电话",
    "county_code": "县代码",
    "county_codes": "县代码",
    "date": "日期",
    "decision_reason": "处理意见",
    "display_name": "姓名",
    "end_reason": "结束原因",
    "exit_year": "脱贫年度",
    "external_id": "订单号",
    "food_total_fen": "食材采购总额",
    "head_name": "户主姓名",
    "household_county_code": "脱贫户所在县",
    "household_id": "脱贫户",
    "household_no": "户编号",
    "id_number_masked": "户主身份证号（已脱敏）",
    "invoice_no": "发票号",
    "is_leading_enterprise": "龙头企业",
    "kind": "类型",
    "last_push_at": "最近推送时间",
    "ledger_status": "台账状态",
    "legal_rep": "法定代表人",
    "location": "位置",
    "matched": "已匹配产品",
    "mechanism": "带贫方式",
    "members": "家庭人口",
    "method": "支付方式",
    "month": "月份",
    "name": "名称",
    "note": "说明",
    "operator_id": "经营主体",
    "operator_name": "经营主体名称",
    "operator_uscc": "经营主体统一社会信用代码",
    "origin_county_code": "产地县代码",
    "outcome": "计法",
    "paid_at": "支付日期",
    "period": "所属期",
    "plan": "年度采购计划",
    "plans": "年度采购计划",
    "price_fen": "价格",
    "product_code": "商品编码",
    "product_id": "产品",
    "product_name": "产品名称",
    "publicity_ends_at": "公示截止时间",
    "quantity": "数量",
    "ratio_approval": "放宽预留比例的批准文号",
    "reason": "理由",
    "recorded_at": "登记时间",
    "refund_of_invoice_no": "原发票号",
    "reserve_ratio_bp": "预留比例",
    "role": "角色",
    "sale_county_code": "销售县代码",
    "secret_issued_at": "密钥签发时间",
    "source": "来源",
    "spec": "规格",
    "status": "状态",
    "township_code": "乡镇代码",
    "township_review_note": "镇办初审意见",
    "unit": "计量单位",
    "unit_type": "单位类型",
    "username": "用户名",
    "uscc": "统一社会信用代码",
    "uscc_checksum_override": "校验码例外登记",
    "valid_from": "开始日期",
    "valid_to": "结束日期",
    "valid_until": "有效期至",
    "via_832": "经832平台采购",
    "village_code": "村代码",
    "voucher_no": "凭证号",
    "weight": "权重",
    "year": "年度",
    "categories": "户类型与监测记录",
    "registered_on": "登记日期",
}

# Channels, categories and certification statuses, as the reports, pages and downloads name them.
CHANNEL_LABELS = {
    "jd": "京东",
    "taobao": "淘宝/天猫",
    "pdd": "拼多多",
    "suning": "苏宁",
    "shanrong": "善融商务",
    "wechat": "微信小程序",
    "p832": "832平台",
    "counter": "消费帮扶专柜",
    "pavilion": "消费帮扶专馆",
    "zone": "消费帮扶专区",
    "canteen": "单位食堂",
    "unit_purchase": "单位直接采购",
}
CATEGORY_LABELS = {
    "grain_oil": "粮油",
    "meat_eggs": "畜禽肉蛋",
    "aquatic": "水产",
    "vegetables": "蔬菜",
    "fruit": "水果",
    "tea": "茶叶",
    "herbs": "中药材",
    "dried_goods": "干货",
    "processed_food": "加工食品",
    "handicraft": "手工艺品",
    "other": "其他",
}
UNMATCHED = "unmatched"
UNMATCHED_LABEL = "未匹配到产品"
STATUS_LABELS = {
    "draft": "草稿",
    "submitted": "已申请",
    "county_approved": "县级审定通过",
    "publicizing": "公示中",
    "certified": "已认定",
    "expired": "已过期",
    "rejected": "已退回",
    "revoked": "已撤销",
}

# Roles, operators and requests, as the pages name them.
ROLE_LABELS = {
    "admin": "系统管理员",
    "county_staff": "县级工作人员",
    "enterprise": "企业",
    "canteen": "单位食堂",
    "unit": "采购单位",
}
OPERATOR_KIND_LABELS = {
    "enterprise": "企业",
    "cooperative": "农民专业合作社",
    "family_farm": "家庭农场",
    "village_collective": "村集体经济组织",
}
OPERATOR_STATUS_LABELS = {"active": "正常", "suspended": "已暂停"}
# What an operator paid a household (到户资金) and how.
PAYOUT_KIND_LABELS = {
    "sales_rebate": "销售返利",
    "purchase_premium": "收购款溢价",
    "dividend": "分红",
    "wage": "工资",
    "rent": "租金",
}
PAYOUT_METHOD_LABELS = {"bank_card": "打卡", "cash": "现金", "transfer": "转账"}
LINK_REQUEST_STATUS_LABELS = {"pending": "待审核", "approved": "已同意", "rejected": "已驳回"}
# The certification steps, as the product page's buttons and its refusals name them.
ACTION_LABELS = {
    "submit": "提交认定申请",
    "approve": "县级审定通过",
    "reject": "退回",
    "publicize": "开始公示",
    "object": "登记异议",
    "certify": "认定",
    "revoke": "撤销认定",
    "withdraw": "撤回申请",
}

# Households and buying units, as the register, the pages and the downloads name them.
HOUSEHOLD_STATUS_LABELS = {
    "poor": "未脱贫",
    "exited": "已脱贫",
    "monitored": "脱贫监测户",
    "edge": "边缘户",
}
UNIT_TYPE_LABELS = {
    "agency": "机关",
    "school": "学校",
    "hospital": "医院",
    "state_enterprise": "国企",
    "other": "其他",
}

# Import runs (service.import_runs' statuses) and their counts, as the import pages and downloads name them.
IMPORT_RUN_STATUS_LABELS = {
    "running": "进行中",
    "succeeded": "已完成",
    "failed": "失败",
    "interrupted": "已中断",
}
IMPORT_COUNT_LABELS = {
    "rows": "行数",
    "inserted": "新增",
    "updated": "更新",
    "unchanged": "未变",
    "skipped": "跳过",
    "rejected": "拒收",
    "unmatched": "未匹配",
}
# A sale line's fields by the ledger's names, as an import's row error names them.
SALE_LINE_FIELD_LABELS = {
    "channel": "渠道",
    "external_id": "订单号",
    "occurred_at": "下单时间",
    "quantity": "数量",
    "amount_fen": "金额",
    "unit_price_fen": "单价",
    "sku": "SKU",
    "barcode": "条形码",
    "title": "商品名称",
    "product_id": "产品",
    "refund_of": "原订单",
    "buyer_unit_id": "采购单位",
    "buyer_name": "采购单位",
}
