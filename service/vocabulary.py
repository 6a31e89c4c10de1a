"""Code lists shared across the service, with their Chinese labels."""

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
