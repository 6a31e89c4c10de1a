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
    "The product is not in the catalogue: the purchase is kept, but does not count toward the "
    "reserved share (预留份额) unless bought on the 832 platform.": (
        "产品不在扶贫产品目录中：采购已记录，但不计入预留份额（832平台采购除外）。"
    ),
    "The product is not in the catalogue; the purchase counts as bought on the 832 platform.": (
        "产品不在扶贫产品目录中；按832平台采购计入预留份额。"
    ),
    "Already logged for this canteen.": "本单位已登记过这个发票号。",
    "The invoice number (发票号) is required.": "请填写发票号。",
    "The amount is empty.": "请填写金额。",
    "The quantity is empty.": "请填写数量。",
    "Name the product: its catalogue id or code, SKU, or name.": "请选择或填写产品。",
    "A product not in the catalogue needs its supplier's unified social credit code.": (
        "目录外产品需填写供应商的统一社会信用代码。"
    ),
    "The amount must be above zero (a return names the invoice it reverses).": (
        "金额应大于零（退货请填写原发票号）。"
    ),
    "The USCC's check character is wrong.": "统一社会信用代码校验位不正确。",
    "The check character (18th) does not match GB 32100; county staff may save a real "
    "code that fails the check with uscc_checksum_override: true.": (
        "第 18 位校验码不符合 GB 32100；如确为真实代码，请联系县级工作人员保存。"
    ),
    "The date is in the future.": "日期不能晚于今天。",
    # Accounts and passwords.
    "3–64 letters, digits or _.@-": "用户名为 3–64 位字母、数字或 _.@-。",
    "Already taken.": "这个用户名已被使用。",
    "The password is too short.": "密码太短。",
    "County staff need at least one county.": "县级工作人员账号至少要有一个县。",
    "Required for county_staff.": "请填写至少一个县代码。",
    "Must be a 6-digit county code.": "县代码应为 6 位数字。",
    "An enterprise account is bound to an existing operator.": "企业账号必须绑定一个已登记的经营主体。",
    "A canteen account is bound to an existing canteen unit.": "食堂账号必须绑定一个已登记的单位食堂。",
    "No such canteen.": "单位食堂不存在。",
    "Not a valid id.": "请从列表中选择。",
    "Only admins may manage staff and admin accounts.": "只有系统管理员可以管理工作人员和管理员账号。",
    "The current password is wrong.": "当前密码不正确。",
    "Wrong password.": "当前密码不正确。",
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
    (
        re.compile(r"^The product was not a certified poverty-alleviation product on (\S+): .*$"),
        "{0} 当天该产品不是已认定的扶贫产品：采购已记录，但不计入预留份额。",
    ),
    (re.compile(r"^Invoice (.+) is already logged for this canteen\.$"), "发票号 {0} 本单位已登记过。"),
    (re.compile(r"^(\S+) is in the future \(today is (\S+) in Asia/Shanghai\)\.$"), "{0} 晚于今天（{1}）。"),
    (re.compile(r"^'(.*)' has more than two decimal places \(below one fen\)\.$"), "“{0}”超过两位小数。"),
    (re.compile(r"^'(.*)' is not an amount in yuan\.$"), "“{0}”不是有效的金额（元）。"),
    (re.compile(r"^'(.*)' is not a whole number\.$"), "“{0}”不是整数。"),
    (re.compile(r"^'(.*)': write 是 or 否\.$"), "“{0}”：请填写“是”或“否”。"),
    (re.compile(r"^Must be (\d{4}-\d{2}) or later\.$"), "不能早于 {0}。"),
    (
        re.compile(r"^The SKU (.+) is already registered to product '(.+)' \(\w+\)\.$"),
        "SKU {0} 已对应到产品「{1}」，一个 SKU 只能对应一个产品。",
    ),
    (re.compile(r"^(.+) is already registered to product (\w+)\.$"), "{0} 已登记在其他产品下。"),
    (
        re.compile(r"^The USCC (\S+) is already registered to another operator\.$"),
        "统一社会信用代码 {0} 已被其他经营主体使用。",
    ),
    (re.compile(r"^Invalid input: (.*)\.$"), "填写有误：{0}。"),
    (re.compile(r"^The username '(.*)' is taken\.$"), "用户名 {0} 已被使用。"),
    (re.compile(r"^At least (\d+) characters\.$"), "至少 {0} 个字符。"),
    # Import runs: files and their cells.
    (re.compile(r"^Missing required columns?: (.+?)\.(?: Is this .*)?$"), "缺少必需的列：{0}。"),
    (re.compile(r"^Missing column (.+)\.$"), "缺少列：{0}。"),
    (re.compile(r"^The file is empty: it has no header row\.$"), "文件是空的：没有表头行。"),
    (re.compile(r"^Empty\.$"), "文件是空的。"),
    (re.compile(r"^The column (.+) appears twice in the header row\.$"), "表头中 {0} 列出现了两次。"),
    (re.compile(r"^Duplicate column (.+)\.$"), "重复的列：{0}。"),
    (re.compile(r"^No importer for channel '(.*)'\.$"), "没有 {0} 渠道的导入程序。"),
    (re.compile(r"^Unknown channel; known: .*\.$"), "请选择一个渠道。"),
    (re.compile(r"^Name the county(?: the sales belong to)?\.$"), "请选择县。"),
    (re.compile(r"^Required(?: for admins)?\.$"), "必填。"),
    (re.compile(r"^(\S+) is empty\.$"), "{0}为空。"),
    (
        re.compile(r"^(\S+): unknown status '(.*)'; expected one of (.*)\.$"),
        "{0}：无法识别的状态“{1}”，应为：{2}。",
    ),
    (re.compile(r"^(.+): not a sale\.$"), "{0}：不计为销售"),
    (re.compile(r"^'(.*)' is not a quantity of at least 1\.$"), "“{0}”不是不小于 1 的数量。"),
    (re.compile(r"^'(.*)' is negative; an order amount cannot be\.$"), "“{0}”是负数，订单金额不能为负。"),
    (
        re.compile(r"^'(.*)' is not a date \(.*\)\.$"),
        "“{0}”不是日期（应如 2020-11-03 14:22:01 或 2020/11/3）。",
    ),
    (
        re.compile(r"^'(.*)' is a number Excel shortened and whose digits are lost; .*$"),
        "“{0}”是被 Excel 缩写的数字，位数已丢失；请重新导出，不要用 Excel 另存后上传。",
    ),
    (re.compile(r"^No product of yours has this SKU or barcode\.$"), "您的产品中没有这个 SKU 或条形码。"),
    (re.compile(r"^This product belongs to another market operator\.$"), "该产品属于其他经营主体。"),
    (re.compile(r"^This product belongs to county (\d+), not (\d+)\.$"), "该产品属于县 {0}，不属于县 {1}。"),
    (re.compile(r"^The (\w+) role may not call this\.$"), "当前账号没有这项权限。"),
]


# A cell's message names its column first ("应付金额: '1.234' has more than two decimal places ...").
_CELL_MESSAGE = re.compile(r"^([^\s:：'\"]+): (.+)$")


def zh(message: str) -> str:
    """The Chinese text of a service or validation message, or the message itself."""
    if message in _EXACT:
        return _EXACT[message]
    for pattern, template in _PATTERNS:
        match = pattern.match(message)
        if match:
            return template.format(*match.groups())
    cell = _CELL_MESSAGE.match(message)
    if cell and zh(cell.group(2)) != cell.group(2):
        return f"{cell.group(1)}：{zh(cell.group(2))}"
    return message


def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, role)
