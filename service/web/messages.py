"""Messages shown on the pages, in Simplified Chinese.

Service functions and schemas speak English (the API's language); the pages translate the
messages users meet most and show any other message as it is, so nothing is ever hidden.
"""

from __future__ import annotations

import re

from service.web.formatting import ROLE_LABELS

# Exact messages (marshmallow's defaults and the service's common ones).
_EXACT = {
    "Missing data for required field.": "必填。",
    "Field may not be null.": "不能为空。",
    "Not a valid integer.": "请填写整数。",
    "Not a valid number.": "请填写数字。",
    "Not a valid string.": "请填写文字。",
    "Not a valid date.": "日期格式应为 YYYY-MM-DD。",
    "Not a valid datetime.": "时间格式有误。",
    "Not a valid boolean.": "请选择是或否。",
    "Not a valid list.": "格式有误。",
    "Not a valid email address.": "邮箱格式有误。",
    "Not a valid URL.": "网址格式有误。",
    "Invalid value.": "取值无效。",
    "Unknown field.": "无法识别的字段。",
    "Shorter than minimum length 1.": "不能为空。",
    "Wrong username or password.": "用户名或密码错误。",
    "Too many failed logins; try again later.": "登录失败次数过多，请稍后再试。",
    "The account is disabled.": "账号已停用。",
    "Must be 13 digits (GTIN-13).": "条形码应为 13 位数字（GTIN-13）。",
    "The check digit is wrong (GTIN-13).": "条形码校验位不正确（GTIN-13）。",
    "No such operator.": "经营主体不存在。",
    "Must be today or later (Asia/Shanghai).": "不能早于今天。",
    "A month as YYYY-MM, e.g. 2024-03.": "月份格式应为 YYYY-MM，例如 2024-03。",
    "The period ends before it starts.": "截止月份早于起始月份。",
    "The requested URL was not found on the server. If you entered the URL manually please check "
    "your spelling and try again.": "您要找的页面不存在。",
    "The method is not allowed for the requested URL.": "不支持这种操作。",
}

# Messages with values in them: (pattern, template using the pattern's groups).
_PATTERNS = [
    (re.compile(r"^Must be one of: (.*)\.$"), "请从以下选项中选择：{0}。"),
    (
        re.compile(r"^Must be greater than or equal to (\S+) and less than or equal to (\S+)\.$"),
        "应在 {0} 到 {1} 之间。",
    ),
    (re.compile(r"^Must be greater than or equal to (\S+)\.$"), "不能小于 {0}。"),
    (re.compile(r"^Must be less than or equal to (\S+)\.$"), "不能大于 {0}。"),
    (re.compile(r"^Must be greater than (\S+)\.$"), "应大于 {0}。"),
    (re.compile(r"^Length must be between (\d+) and (\d+)\.$"), "长度应为 {0} 到 {1} 个字符。"),
    (re.compile(r"^Longer than maximum length (\d+)\.$"), "不能超过 {0} 个字符。"),
    (re.compile(r"^Shorter than minimum length (\d+)\.$"), "不能少于 {0} 个字符。"),
    (re.compile(r"^County (\d+) is outside your counties\.$"), "县 {0} 不在您的管辖范围内。"),
    (re.compile(r"^The (\w+) role may not call this\.$"), "当前账号没有这项权限。"),
]


def zh(message: str) -> str:
    """The Chinese text of a service or validation message, or the message itself."""
    if message in _EXACT:
        return _EXACT[message]
    for pattern, template in _PATTERNS:
        match = pattern.match(message)
        if match:
            return template.format(*match.groups())
    return message


def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, role)
