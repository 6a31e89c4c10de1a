"""The Chinese names the reports, pages and downloads give channels, categories and certification statuses."""

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
