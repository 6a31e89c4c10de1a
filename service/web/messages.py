"""Messages shown on the pages, in Simplified Chinese, translated by their stable code.

Service functions, schemas and adapters speak English (the API's language) and give every refusal a
code and the values in it (service/errors.py, adapters/errors.py); ``CATALOGUE`` holds the page text
of each code, so rewording an English message never leaves a page untranslated.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from service.errors import ServiceError, detail_code
from service.web.formatting import LABELS, ROLE_LABELS, label, local_datetime, percent_bp, yuan

CATALOGUE: dict[str, str] = {
    # Generic kinds: a refusal whose rule has no text of its own.
    "bad_request": "请求有误。",
    "unauthorized": "请先登录。",
    "forbidden": "没有权限。",
    "not_found": "您要找的内容不存在，或它不属于您的范围。",
    "method_not_allowed": "不支持这种操作。",
    "conflict": "操作冲突，请刷新页面后重试。",
    "precondition_failed": "该记录已被他人修改，请刷新页面后重新填写。",
    "precondition_required": "该记录已被他人修改，请刷新页面后重新填写。",
    "unsupported_media_type": "不支持的内容格式。",
    "validation_error": "请改正下面标出的内容。",
    "too_many_requests": "操作太频繁，请稍后再试。",
    "request_entity_too_large": "上传的文件太大。",
    "internal_server_error": "服务出错，请稍后再试。",
    # marshmallow's own field messages.
    "field.required": "必填。",
    "field.null": "不能为空。",
    "field.invalid": "取值无效。",
    "field.not_integer": "请填写整数。",
    "field.not_number": "请填写数字。",
    "field.number_too_large": "数字太大。",
    "field.not_string": "请填写文字。",
    "field.not_date": "日期格式应为 YYYY-MM-DD。",
    "field.not_datetime": "时间格式有误。",
    "field.not_boolean": "请选择是或否。",
    "field.not_list": "格式有误。",
    "field.not_dict": "格式有误。",
    "field.not_email": "邮箱格式有误。",
    "field.not_url": "网址格式有误。",
    "field.unknown": "无法识别的字段。",
    "field.one_of": "请从以下选项中选择：{choices}。",
    "field.length_range": "长度应为 {min} 到 {max} 个字符。",
    "field.length_min": "不能少于 {min} 个字符。",
    "field.length_max": "不能超过 {max} 个字符。",
    "field.length_equal": "长度应为 {equal} 个字符。",
    "field.pattern": "格式有误。",
    "field.range": "应在 {min} 到 {max} 之间。",
    "field.min": "不能小于 {min}。",
    "field.max": "不能大于 {max}。",
    "field.range_exclusive": "应大于 {min} 且小于 {max}。",
    "field.min_exclusive": "应大于 {min}。",
    "field.max_exclusive": "应小于 {max}。",
    # Files and cells of imports (adapters/errors.py).
    "file.empty": "文件是空的：没有表头行。",
    "file.none": "请选择要上传的文件。",
    "file.count": "{channel_label}的导出文件最多 {most} 个，上传了 {count} 个。",
    "file.duplicate_column": "表头中 {column} 列出现了两次。",
    "file.missing_columns": "缺少必需的列：{columns}。",
    "file.wrong_layout": (
        "缺少必需的列：{columns}。最接近的{channel_label}文件版式是「{layout_title}」（{layout}）。"
    ),
    "file.other_channel": "这是{channel_label}的导出文件（版式 {layout}），请选择渠道“{channel_label}”导入。",
    "file.old_workbook": "无法读取旧版 .xls 工作簿（或加密的工作簿），请另存为 .xlsx 或 CSV。",
    "file.not_xlsx": "文件扩展名是 .xlsx，但不是 xlsx 工作簿。",
    "file.mixed_encoding": (
        "第 {row} 行的文字编码与前面的行不同（是否从其他文件粘贴？），请整份另存为 CSV UTF-8 或 xlsx。"
    ),
    "file.not_text": "文件不是文本格式的 CSV（可能是二进制文件），请上传平台导出的 CSV 或 xlsx。",
    "file.unknown_encoding": "CSV 文件既不是 UTF-8 也不是 GB18030/GBK 编码，请另存为 CSV UTF-8 或 xlsx。",
    "file.bad_csv": "第 {row} 行不是有效的 CSV。",
    "file.cut_short": "第 {row} 行不完整：文件提前结束（下载或上传中断？），请重新导出。",
    "file.stopped": "文件从这一行起无法读取，之后的行没有读取。",
    "file.unreadable": "文件无法读取。",
    "file.too_large": "文件太大。",
    "file.missing_part": "缺少导出文件的另一部分。",
    "cell.empty": "{column}不能为空。",
    "cell.bad_amount": "“{value}”不是有效的金额（元）。",
    "cell.below_fen": "“{value}”超过两位小数。",
    "cell.amount_too_large": "“{value}”超过单笔金额上限（1万亿元）。",
    "cell.negative_amount": "“{value}”是负数，订单金额不能为负。",
    "cell.bad_percent": "“{value}”不是最多两位小数的百分比。",
    "cell.not_whole_number": "“{value}”不是整数。",
    "cell.bad_quantity": "“{value}”不是不小于 1 的数量。",
    "cell.bad_date": "“{value}”不是真实存在的日期或时间。",
    "cell.not_a_date": "“{value}”不是日期（应如 2020-11-03 14:22:01 或 2020/11/3）。",
    "cell.has_time": "“{value}”带有时间，这里只需要日期。",
    "cell.serial_out_of_range": "“{value}”超出可识别的 Excel 日期数字范围（1970–9999 年）。",
    "cell.digits_lost": "数字超过 Excel 保留的 15 位，末几位已丢失；请把该列设为文本后重新导出。",
    "cell.shortened": "“{value}”是被 Excel 缩写的数字，位数已丢失；请重新导出，不要用 Excel 另存后上传。",
    "cell.bad_identifier": "编号格式有误。",
    "cell.bad_flag": "请填写“是”或“否”。",
    "row.unknown_status": "无法识别的订单状态。",
    "row.bad_event": "记录格式有误。",
    "row.unknown_fields": "含有无法识别的字段。",
    "row.not_text": "这一行不是 UTF-8 文本。",
    "row.bad_json": "这一行不是有效的 JSON。",
    "row.order_unreadable": "同一订单的其他行无法读取，订单金额无法分摊到各件商品。",
    "row.over_payment": "超过了所付金额。",
    "row.invalid": "这一行无法读取。",
    # Certification of products.
    "certification.role_not_allowed": "您的账号不能对这个产品执行“{action}”。",
    "certification.wrong_status": "产品当前状态为“{status}”，不能{action}。",
    "certification.reason_required": "“{action}”必须填写理由。",
    "certification.publicity_not_over": "公示期尚未结束（{publicity_ends_at} 结束），公示期满后才能认定。",
    "certification.not_editable": "产品当前状态为“{status}”，正在审核或已关闭，不能修改。",
    # Shared field messages.
    "field.staff_only": "只有县级工作人员可以修改。",
    "field.not_yours": "不属于您的范围。",
    "field.already_registered": "已登记。",
    # Canteens (单位食堂).
    "canteen.not_in_scope": "没有这个单位食堂，或它不属于您的范围。",
    "canteen.enterprise_refused": "企业账号不能操作单位食堂。",
    "canteen.name_taken": "县 {county_code} 已有名为“{name}”的单位食堂。",
    "canteen.name_used": "本县已有同名的单位食堂。",
    "canteen.name_required": "请填写单位食堂名称。",
    "canteen.staff_only": "只有县级工作人员和管理员可以登记单位食堂。",
    "canteen.staff_only_fields": "只有县级工作人员可以修改单位食堂的名称或所属县。",
    "canteen.plan_year": "计划年度应在 {first} 到 {last} 年之间。",
    "canteen.ratio_range": "预留比例应在 0.01% 到 100% 之间。",
    "canteen.ratio_below_floor": "自 {from_year} 年起，预留比例低于 {floor_bp} 须填写批准文号。",
    "canteen.ratio_floor": "不能低于 {floor_bp}，或填写批准文号。",
    "canteen.approval_too_long": "批准文号太长。",
    # Canteen modes, supervising units and the union's share (食堂情况、主管预算单位、工会份额).
    "canteen.unknown_mode": "无法识别的食堂情况“{mode}”。",
    "canteen.shared_units_list": "每个单位只列一次，最多 {most} 个。",
    "canteen.shared_with_itself": "合用食堂不能为本单位自己合并填报。",
    "canteen.shared_unit_unknown": "合并填报的单位须是本县登记的单位食堂。",
    "canteen.shared_unit_reports": "为其他单位合并填报的单位，不能再由别的食堂合并填报。",
    "canteen.shared_unit_taken": "“{reporter}”已为其中的单位合并填报。",
    "canteen.reported_unit_reports": "本单位已由其他食堂合并填报，不能再为其他单位填报。",
    "canteen.shared_units_need_shared_mode": "只有合用食堂可以为其他单位合并填报。",
    "canteen.contractor_needs_outsourced": "只有外包食堂填写承包方。",
    "canteen.parent_cycle": "主管预算单位不能是本单位或本单位的下属单位。",
    "canteen.parent_unknown": "主管预算单位须是本县登记的单位。",
    "canteen.no_canteen_no_plan": "无食堂的单位不作预留份额要求，无需申报。",
    "canteen.plan_by_reporter": "本单位由“{reporter}”合并填报，请在该食堂申报。",
    "canteen.union_share_pair": "工会份额须同时填写工会年度采购总额和工会预留比例。",
    "canteen_832.other_buyer": "这条订单已作为其他单位的采购记入台账。",
    "report.staff_only": "只有县级工作人员和管理员可以查看县级报表。",
    # Dates and periods.
    "date.in_future": "{day} 晚于今天（{today}）。",
    "date.too_early": "{day} 早于 {first}，请核对年份。",
    "period.month_needs_year": "选择月份时须同时选择年份。",
    # Canteen purchases (食堂采购).
    "canteen_purchase.bad_uscc": "{uscc} 不是有效的统一社会信用代码。",
    "canteen_purchase.invoice_required": "请填写发票号。",
    "canteen_purchase.bad_invoice": "发票号应为 1–{most} 个可打印字符。",
    "canteen_purchase.invoice_twice_in_file": "发票号 {invoice_no} 与文件第 {other_row} 行重复。",
    "canteen_purchase.quantity_not_positive": "数量应大于零（退货填写负数，并填写原发票号）。",
    "canteen_purchase.amount_not_positive": "金额应大于零（退货请填写原发票号）。",
    "canteen_purchase.unknown_supplier": "没有登记这个供应商（经营主体）。",
    "canteen_purchase.unknown_product": "扶贫产品目录中没有这个产品。",
    "canteen_purchase.product_required": "请选择或填写产品。",
    "canteen_purchase.other_supplier": "产品“{product}”由其他供应商销售。",
    "canteen_purchase.sold_by": "产品“{product}”的供应商是 {uscc}。",
    "canteen_purchase.supplier_required": "目录外产品需填写供应商的统一社会信用代码。",
    "canteen_purchase.return_of_itself": "退货不能冲抵自己的发票号。",
    "canteen_purchase.no_original": "本单位没有发票号为 {invoice_no} 的采购。",
    "canteen_purchase.original_is_return": "发票号 {invoice_no} 本身是一笔退货。",
    "canteen_purchase.return_quantity": "退货的数量应为负数（或零）。",
    "canteen_purchase.return_amount": "退货的金额应为负数。",
    "canteen_purchase.return_before_purchase": "退货日期早于原采购日期（{date}）。",
    "canteen_purchase.return_other_product": "发票号 {invoice_no} 采购的是其他产品。",
    "canteen_purchase.return_via_832": "发票号 {invoice_no} 是在832平台采购的。",
    "canteen_purchase.return_not_via_832": "发票号 {invoice_no} 不是在832平台采购的。",
    "canteen_purchase.returns_exceed": (
        "对发票号 {invoice_no} 的退货将超过原采购（{quantity} 件，{amount_fen} 元）。"
    ),
    "canteen_purchase.enterprise_refused": "企业账号不能登记食堂采购。",
    "canteen_purchase.other_canteen": "只能操作本单位食堂的采购。",
    "canteen_purchase.canteen_required": "请选择单位食堂。",
    "canteen_purchase.canteen_by_county": "食堂账号不能按县查询。",
    "canteen_purchase.duplicate_invoice": "发票号 {invoice_no} 本单位已登记过（{date}，{amount_fen} 元）。",
    "canteen_purchase.invoice_logged": "发票号 {invoice_no} 本单位已登记过。",
    "canteen_purchase.invoice_used": "本单位已登记过这个发票号。",
    "canteen_purchase.product_column": "文件需要有“{columns}”中的一列。",
    "canteen_purchase.logged_meanwhile": "发票号 {invoice_no} 刚刚被他人登记。",
    # Request bodies and access.
    "field.not_allowed": "不允许的字段。",
    "body.too_deep": "请求内容嵌套超过 {most} 层。",
    "body.operator_field": "字段名不能以“$”开头。",
    "body.not_unicode": "请求中含有无效的 Unicode 文字。",
    "body.beyond_64_bits": "请求中的整数超出 64 位范围。",
    "body.not_json_type": "请求内容应为 JSON（Content-Type: application/json）。",
    "body.not_json": "请求内容不是有效的 JSON。",
    "access.no_policy": "这个页面没有设置访问权限。",
    "access.role_refused": "当前账号没有这项权限。",
    "access.county_outside": "县 {county_code} 不在您的管辖范围内。",
    "access.other_operator": "该记录属于其他经营主体。",
    "access.canteen_on_operator": "食堂账号不能操作经营主体。",
    "access.other_canteen": "该记录属于其他单位食堂。",
    "access.staff_only": "只有县级工作人员和管理员可以查看。",
    # Logins and accounts.
    "auth.too_many_failures": "登录失败次数过多，请稍后再试。",
    "auth.wrong_credentials": "用户名或密码错误。",
    "auth.token_invalid": "登录已失效，请重新登录。",
    "auth.account_disabled": "账号已停用。",
    "auth.login_first": "请先登录。",
    "account.county_required": "县级工作人员账号至少要有一个县。",
    "account.operator_required": "企业账号必须绑定一个已登记的经营主体。",
    "account.canteen_required": "食堂账号必须绑定一个已登记的单位食堂。",
    "account.password_too_short": "密码太短。",
    "account.admin_only": "只有系统管理员可以管理工作人员和管理员账号。",
    "account.username_taken": "用户名 {username} 已被使用。",
    "account.username_used": "这个用户名已被使用。",
    "account.not_found": "账号不存在，或它不属于您的范围。",
    "account.wrong_password": "当前密码不正确。",
    # Sales ledger and counters (专柜).
    "sale.not_found": "没有这条销售记录，或它不属于您的范围。",
    "sale.staff_only": "只有县级工作人员和管理员可以重建或核对台账。",
    "counter.unauthenticated": "推送未通过身份验证。",
    "counter.not_found": "没有这个专柜，或它不属于您的范围。",
    "counter.staff_only": "只有县级工作人员和管理员可以登记专柜。",
    "counter.cabinet_taken": "专柜编号 {cabinet_no} 已登记。",
    "counter.not_a_list": "推送内容应为事件的 JSON 数组。",
    "counter.too_many_events": "每次推送最多 {most} 个事件。",
    # Households (脱贫户) and ID numbers.
    "id_number.length": "身份证号应为 18 位（填写了 {length} 位）。",
    "id_number.pattern": "身份证号为 17 位数字加最后一位数字或 X。",
    "id_number.check": "身份证号校验位不正确，请核对是否输错。",
    "id_number.birth_date": "身份证号中的出生日期不正确。",
    "id_number.address_code": "身份证号的地址码不存在（或出生前已撤销）。",
    "household.bad_number": "户编号应为 1–32 位数字。",
    "household.bad_village": "村代码应为 12 位统计用区划代码。",
    "household.village_outside_county": "村 {village} 不属于县 {county_code}（前 6 位不同）。",
    "household.head_name_required": "请填写户主姓名。",
    "household.head_name_too_long": "姓名最多 {most} 个字符。",
    "household.bad_members": "家庭人口数应为 1 到 {most} 的整数。",
    "household.bad_status": "请选择户类型：未脱贫、已脱贫、脱贫监测户或边缘户。",
    "household.exit_year_required": "已脱贫户必须填写脱贫年度。",
    "household.no_exit_year": "{status_label}没有脱贫年度，请留空。",
    "household.bad_exit_year": "脱贫年度应为年份，如 2019。",
    "household.exit_year_range": "脱贫年度应在 {first} 年到今年之间。",
    "household.id_number_heads": "此人已是户 {household_no} 的户主。",
    "household.id_number_heads_elsewhere": "此人已是县 {county_code} 某户的户主（不在您的管辖范围内）。",
    "household.already_head": "此人已是其他户的户主。",
    "household.not_in_scope": "没有这户，或它不属于您的范围。",
    "household.canteen_refused": "食堂账号不能查看脱贫户。",
    "household.staff_only": "只有县级工作人员和管理员可以修改脱贫户登记。",
    "household.no_head_with_id": "没有以此身份证号登记户主的脱贫户。",
    "household.number_taken": "户编号 {household_no} 已登记。",
    "household.same_id_in_file": "身份证号与文件第 {row} 行相同。",
    "household.village_not_import_county": "村不属于本次导入的县 {county_code}。",
    "household.registered_elsewhere": "已登记在县 {county_code}，不在您的管辖范围内。",
    "register.duplicate_row": "与文件第 {row} 行重复。",
    "register.changed_meanwhile": "导入期间被他人修改，请重新导入。",
    # Households' categories over time (户类型、监测对象类别、风险消除).
    "category.bad_type": "户类型应为脱贫户或一般农户。",
    "category.bad_category": "监测对象类别应为空，或脱贫不稳定户、边缘易致贫户、突发严重困难户之一。",
    "category.bad_method": "风险消除方式应为帮扶消除或自然消除。",
    "category.bad_label": "“{value}”不是可选的值。",
    "category.bad_yes_no": "“{value}”应为是或否。",
    "category.before_registration": "{day} 早于该户的登记日期 {registered_on}。",
    "category.in_future": "{day} 晚于今天。",
    "category.valid_from_required": "请填写变更生效日期。",
    "category.not_monitored": "只有监测对象才填写此项，请留空。",
    "category.identified_required": "监测对象须填写识别监测时间。",
    "category.method_required": "风险已消除的须填写风险消除方式。",
    "category.removed_on_required": "风险已消除的须填写消除日期。",
    "category.removal_not_marked": "风险未标为已消除（是），却填写了消除信息。",
    "category.removed_before_identified": "风险消除日期 {day} 早于识别监测时间 {identified_on}。",
    "household.not_on_register": "户 {household_no} 不在您的脱贫户登记中，请先导入该户。",
    "household.bad_registered_on": "登记日期应为日期，如 2016-05-01。",
    "household.registered_on_range": "登记日期应在 {first} 到今天之间。",
    "household.registered_after_category": "该户的类别自 {day} 起已有记录，登记日期不能晚于它。",
    # Benefit links (带贫关系).
    "date.range": "日期应在 {first} 到 {last} 之间。",
    "date.end_before_start": "结束日期早于开始日期。",
    "benefit_link.not_in_scope": "没有这条带贫关系，或它不属于您的范围。",
    "benefit_link.canteen_refused": "食堂账号不能查看或新增带贫关系。",
    "benefit_link.staff_only": "只有县级工作人员和管理员可以修改或结束带贫关系。",
    "benefit_link.own_operator": "企业只能为本经营主体登记带贫关系。",
    "benefit_link.import_refused": "只有县级工作人员、管理员和企业可以导入带贫关系。",
    "benefit_link.operator_required": "请选择经营主体。",
    "benefit_link.unknown_household": "没有登记这个户编号。",
    "benefit_link.unknown_household_for_enterprise": (
        "本经营主体所在县没有登记这个户编号；其他县的脱贫户需提交申请，由该县工作人员审核。"
    ),
    "benefit_link.household_required": "请填写户编号。",
    "benefit_link.overlap": "户 {household_no} 与该经营主体已有 {first} 至 {last} 的带贫关系，时段重叠。",
    "benefit_link.overlap_open": (
        "户 {household_no} 与该经营主体已有自 {first} 起长期有效的带贫关系，时段重叠。"
    ),
    "benefit_link.overlaps": "与已有的带贫关系时段重叠。",
    "benefit_link.created_meanwhile": "同一开始日期的带贫关系刚刚被他人登记。",
    "benefit_link.not_extended": "该带贫关系已于 {last} 结束，不能延长；如需继续请新增带贫关系。",
    "benefit_link.after_end": "晚于当前的结束日期。",
    "benefit_link.uscc_required": "请填写经营主体统一社会信用代码。",
    "benefit_link.household_no_required": "请填写户编号。",
    "benefit_link.bad_mechanism": "带贫方式应为：{choices}（或其代码）。",
    "benefit_link.bad_weight": "权重应为不小于 1 的整数。",
    "benefit_link.start_required": "请填写开始日期。",
    "benefit_link.same_in_file": "与文件第 {row} 行是同一条带贫关系。",
    "benefit_link.overlaps_row": "与文件第 {row} 行的时段重叠。",
    "benefit_link.overlaps_stored": "与已登记的带贫关系时段重叠。",
    "benefit_link.unknown_operator": "没有登记这个统一社会信用代码的经营主体。",
    "benefit_link.operator_outside": "属于县 {county_code}，不在您的管辖范围内。",
    "benefit_link.stored_ends_earlier": "已登记的带贫关系结束得更早，不能延长。",
    "benefit_link.household_outside": "户所在县不在您的管辖范围内。",
    # Market operators (经营主体) and their codes.
    "field.length_18": "应为 18 位。",
    "uscc.check": "统一社会信用代码校验位不正确。",
    "uscc.check_overridable": "第 18 位校验码不符合 GB 32100；如确为真实代码，请联系县级工作人员保存。",
    "uscc.length": "统一社会信用代码应为 18 位。",
    "uscc.alphabet": "统一社会信用代码含有 GB 32100 不允许的字符。",
    "uscc.alphabet_detail": "前 8 位应为数字，其余为 0-9 和 ABCDEFGHJKLMNPQRTUWXY（不含 I、O、S、V、Z）。",
    "uscc.taken": "统一社会信用代码 {uscc} 已被其他经营主体使用。",
    "uscc.used": "已被其他经营主体使用。",
    "operator.not_found": "经营主体不存在，或它不属于您的范围。",
    "operator.override_staff_only": "只有县级工作人员和管理员可以跳过统一社会信用代码校验。",
    "operator.staff_only": "只有县级工作人员和管理员可以登记经营主体。",
    "operator.staff_only_fields": "这些内容只有县级工作人员可以修改。",
    "operator.override_without_uscc": "跳过校验须与统一社会信用代码一同提交。",
    "operator.staff_only_status": "只有县级工作人员和管理员可以暂停或恢复经营主体。",
    "operator.already_in_status": "经营主体已是该状态，请刷新页面。",
    "operator.reason_required": "暂停经营主体必须填写理由。",
    # Link requests (带贫关系申请).
    "link_request.not_in_scope": "没有这条申请，或它不属于您的范围。",
    "link_request.enterprise_only": "只有企业可以提交带贫关系申请；工作人员可直接新增。",
    "link_request.no_operator": "该账号没有绑定经营主体。",
    "link_request.canteen_refused": "食堂账号不能查看带贫关系申请。",
    "link_request.county_staff_only": "只有脱贫户所在县的工作人员可以审核申请。",
    "link_request.already_decided": "该申请已是“{link_request_status}”状态。",
    "link_request.party_gone": "该申请的经营主体或脱贫户已不再登记。",
    # Order-status mappings and pulls.
    "field.county_code": "县代码为 6 位数字。",
    "status_mapping.staff_only": "只有县级工作人员和管理员可以查看或修改订单状态映射。",
    "status_mapping.bad_county": "县代码为 6 位数字。",
    "status_mapping.invalid": "订单状态映射填写有误。",
    "pull.not_configured": "淘宝接口拉取尚未配置：请在环境中设置 {names}。",
    "pull.not_set": "未设置。",
    "pull.since_required": "店铺 {shop} 还没有保存的拉取位置：首次拉取请指定起始时间。",
    "pull.empty_period": "没有可拉取的内容：截止时间早于起始时间。",
    # Sales imports.
    "account.no_operator": "该账号没有绑定经营主体。",
    "import.unknown_channel": "没有 {channel} 渠道的导入程序。",
    "import.choose_channel": "请选择一个渠道。",
    "import.canteen_refused": "食堂账号不能导入或查看销售导入。",
    "import.own_county": "本单位的销售只能导入所在县 {county_code}。",
    "import.refused": "只有县级工作人员、管理员和企业可以导入销售。",
    "import.county_required": "请选择县。",
    "import.interrupted": (
        "导入未完成就停止了（服务重启或进程中断）。请重新导入同一文件：已入账的销售行会被识别，不会重复计算。"
    ),
    "import.run_not_in_scope": "没有这条导入记录，或它不属于您的范围。",
    "unmatched.staff_only": "只有县级工作人员和管理员可以查看未匹配的销售。",
    "unmatched.batch_size": "每次可对应 1 到 {most} 个 SKU。",
    "product.map_staff_only": "只有县级工作人员和管理员可以把 SKU 对应到产品。",
    "line.unknown_channel": "无法识别的渠道“{channel}”。",
    "line.bad_external_id": "订单号或事件号应为 1–200 个字符。",
    "line.no_time_zone": "时间没有时区。",
    "line.in_future": "日期不能晚于今天。",
    "line.not_whole": "数量和金额应为整数（金额以分计）。",
    "line.negative_not_refund": "只有退款可以填写负的数量或金额。",
    "line.refund_positive": "退款的数量和金额应为负数（或零）。",
    "line.negative_price": "单价不能为负。",
    "line.unknown_buyer_type": "无法识别的买方类型。",
    "line.bad_product_id": "产品编号无效。",
    "line.bad_unit_id": "单位编号无效。",
    # Products (扶贫产品).
    "date.not_past": "不能早于今天。",
    "operator.suspended": "该经营主体已暂停。",
    "product.not_found": "没有这个产品，或它不属于您的范围。",
    "product.not_in_scope": "没有这个产品，或它不属于您的范围。",
    "product.canteen_certified_only": "食堂账号只能查看已认定的产品。",
    "product.operator_required": "请选择产品所属的经营主体。",
    "product.operator_suspended": "该经营主体已暂停，不能登记产品或推进认定。",
    "product.sku_twice": "SKU {sku} 填写了两次。",
    "product.sku_taken": "SKU {sku} 已对应到产品「{product}」，一个 SKU 只能对应一个产品。",
    "product.sku_used": "SKU {sku} 已对应到其他产品，一个 SKU 只能对应一个产品。",
    "product.saved_meanwhile": "另一个产品刚刚以相同的 SKU 或证书编号保存，请重试。",
    "product.output_unit_required": "请填写年产量的单位。",
    "product.channel_required": "请选择 SKU 所属的渠道。",
    "product.enterprise_move": "企业不能把产品转到其他经营主体。",
    "product.rate_start_alone": "带贫比例生效日期须与带贫比例一同填写。",
    "product.rate_in_past": "带贫比例的变更不能早于今天。",
    # Schema fields.
    "account.bad_username": "用户名为 3–64 位字母、数字或 _.@-。",
    "date.bad_offset": "时区偏移应在 -12:00 到 +14:00 之间。",
    "field.not_an_id": "请从列表中选择。",
    "field.township_code": "乡镇代码为 9 位数字。",
    "canteen_purchase.supplier_twice": "供应商统一社会信用代码和供应商只能填写一个。",
    "product.channel_without_sku": "渠道须与 SKU 一同填写。",
    "counter.bad_cabinet_no": "专柜编号为 1–64 位字母、数字、“-”或“_”。",
    "import.file_count": "每次导入一个文件（淘宝为订单报表和宝贝报表两个），最多 {most} 个。",
    "operator.bad_phone": "电话为 5–20 位数字，可含空格和“-”。",
    "product.bad_sku": "1–64 个字符，不能有空格。",
    "product.barcode_digits": "条形码应为 13 位数字（GTIN-13）。",
    "product.barcode_check": "条形码校验位不正确（GTIN-13）。",
    "period.bad_month": "月份格式应为 YYYY-MM，例如 2024-03。",
    # Rows an import sets aside on purpose.
    "skip.unknown_status": "{column}：无法识别的状态“{status}”：这些行已跳过，未计入销售",
    "skip.pending": "{column} {status}：尚未成交，以后导出的文件会再导入",
    "skip.not_a_sale": "{column} {status}：不计为销售",
    "skip.unpaid": "状态 {status}：未付款，不计为销售",
    "skip.closed_unpaid": "状态 {status}：付款前已关闭，不计为销售",
    "skip.deleted": "订单状态“{status}”：已删除的订单（如已拆分为新订单），不计为销售",
    # Pages.
    "page.role_refused": "{role}账号不能打开这个页面。",
    # Ledger lines and their scope.
    "line.not_yours": "该订单行已在台账中，且不属于本经营主体，不能修改；如有疑问请联系县级工作人员。",
    "line.no_product_of_yours": "您的产品中没有这个 SKU 或条形码。",
    "line.other_operator": "该产品属于其他经营主体。",
    "line.other_county": "该产品属于县 {product_county}，不属于县 {county_code}。",
    # Reports.
    "period.ends_before_start": "截止月份早于起始月份。",
    "period.not_before": "不能早于 {month}。",
    "report.canteen_own": "食堂账号请查看本单位的报表。",
    # Rules with their own refusal class.
    "status_already_known": "导入程序已能识别这个订单状态，不能另设映射。",
    "status_mapping_not_found": "本县没有这条订单状态映射。",
    "not_confirmable": "这条导入记录不能确认：只有成功的试导入可以确认。",
    "dry_run_files_gone": "试导入的文件已不再保留，请重新导入文件。",
    "confirmation_in_progress": "这次试导入正在确认中，请稍后刷新。",
    "storage_write_failed": "保存失败：数据目录无法写入。",
    "sku_mapping_refused": "有 SKU 对应关系被拒绝，全部未保存。",
    "database_unreachable": "数据库无法连接，请稍后再试。",
    # The payout ledger (到户资金) and control totals (账实相符).
    "payout.not_linked": "该经营主体在所属期内与这户没有带贫关系，到户资金只能登记给有带贫关系的户。",
    "payout.voucher_used": "本经营主体已用过这个凭证号。",
    "payout.voucher_taken": "凭证号 {voucher_no} 已被本经营主体的另一笔到户资金使用。",
    "payout.operator_not_yours": "没有这个经营主体，或它不属于您的范围。",
    "payout.operator_required": "请选择支付的经营主体。",
    "payout.canteen_refused": "食堂账号不能登记或查看到户资金。",
    "payout.paid_in_future": "支付日期不能晚于今天。",
    "payout.bad_period": "所属期应为月份（YYYY-MM）或年度（YYYY）。",
    "payout.uscc_required": "请填写经营主体统一社会信用代码。",
    "payout.household_no_required": "请填写户编号。",
    "payout.voucher_required": "请填写凭证号。",
    "payout.period_required": "请填写所属期。",
    "payout.voucher_too_long": "凭证号最多 {limit} 个字符。",
    "payout.bad_kind": "类型应为以下之一：{choices}。",
    "payout.bad_method": "支付方式应为以下之一：{choices}。",
    "payout.amount_not_positive": "金额应大于 0。",
    "payout.unknown_operator": "您的经营主体中没有这个统一社会信用代码。",
    # Income statements (收益明白卡) and income lines (收入监测线).
    "statement.staff_only": "只有县级工作人员和管理员可以打印和核验收益明白卡。",
    "statement.bad_year": "年度应为 {first} 年以后的年份，如 2020。",
    "statement.bad_code": "核验码是 10 位字母和数字，如 ABCDE-FGH23。",
    "statement.not_in_scope": "没有这个核验码，或它不属于您管辖的县。",
    "statement.village_outside_county": "{county_code} 没有村代码为 {village} 的村。",
    "statement.village_without_income": "{village} 村在 {year} 年没有哪一户有消费帮扶收益，无明白卡可打印。",
    "statement.font_missing": "服务器上没有安装中文字体（{path}），无法生成明白卡，请联系管理员。",
    "income_line.bad_province": "省份应为 2 位省级代码，如 34（安徽）。",
    "income_line.bad_year": "年度应为 {first} 年以后的年份，如 2020。",
    "income_line.staff_only": "只有县级工作人员和管理员可以查看收入监测线。",
    "income_line.admin_only": "只有管理员可以设定省份的收入监测线（全省各县共用）。",
    "income_line.bad_amount": "监测线应大于 0 元，且每人不超过 {most} 元。",
    "control_total.future_month": "{month} 尚未开始（本月为 {current}），不能登记。",
    "control_total.unknown_channel": "无法识别的渠道。",
    "control_total.changed_meanwhile": "有人同时登记了这个数字，请刷新后重试。",
    # Buying units (采购单位), pairings (结对帮扶) and unit purchases (单位采购).
    "buying_unit.not_in_scope": "没有这个采购单位，或它不属于您的范围。",
    "buying_unit.name_taken": "{county_code} 已有名为“{name}”的采购单位。",
    "buying_unit.name_used": "本县已有同名单位。",
    "buying_unit.bad_uscc": "{uscc} 不是有效的统一社会信用代码。",
    "buying_unit.canteen_not_in_county": "以下食堂不属于 {county_code}：{canteen_ids}。",
    "buying_unit.invalid": "采购单位信息有误，请改正标出的内容。",
    "buying_unit.changed": "该采购单位已被他人修改，请刷新后重新填写。",
    "buying_unit.in_use": "该单位已有结对关系或采购记录，不能删除。",
    "field.village_code": "村代码为 12 位数字。",
    "pairing.not_in_scope": "没有这个结对关系，或它不属于您的范围。",
    "pairing.ends_before_start": "结束日期早于开始日期（{valid_from}）。",
    "pairing.village_outside": "该村不属于 {county_code}。",
    "pairing.invalid": "结对关系有误，请改正标出的内容。",
    "pairing.changed": "该结对关系已被他人修改，请刷新后重新填写。",
    "pairing.in_use": "已有采购记在这个结对关系下，不能删除；请填写结束日期。",
    "pairing.purchases_outside": "{date} 的采购记在这个结对关系下，改后会落在期限之外。",
    "unit_purchase.bad_mode": "“{value}”：请填写 {choices} 之一。",
    "unit_purchase.bad_kg": "“{value}”不是公斤数（最多三位小数）。",
    "unit_purchase.unknown_unit": "本县没有名为“{name}”的采购单位。",
    "unit_purchase.order_required": "请填写订单号（订单、发票或合同号）。",
    "unit_purchase.bad_order": "订单号应为 1–{most} 个可打印字符。",
    "unit_purchase.bad_evidence": "凭证号应为 1–{most} 个可打印字符。",
    "unit_purchase.quantity_not_positive": "数量应大于零。",
    "unit_purchase.amount_not_positive": "金额应大于零。",
    "unit_purchase.unknown_product": "扶贫产品目录中没有这个产品。",
    "unit_purchase.bad_uscc": "{uscc} 不是有效的统一社会信用代码。",
    "unit_purchase.product_or_supplier": "请选择目录内产品，或填写供应商统一社会信用代码和产品说明。",
    "unit_purchase.description_required": "目录外产品请填写产品说明。",
    "unit_purchase.other_supplier": "产品“{product}”由其他供应商销售。",
    "unit_purchase.product_other_county": "该产品属于 {product_county}，不是 {county_code}。",
    "unit_purchase.weight_mismatch": "{quantity} {unit} 应重 {expected_kg} 公斤，与所填重量不符。",
    "unit_purchase.unknown_pairing": "该单位没有这个结对关系。",
    "unit_purchase.bad_pairing_kind": "“{value}”：请填写 {choices} 之一，或结对ID。",
    "unit_purchase.pairing_not_in_force": "{date} 该单位没有有效的结对关系。",
    "unit_purchase.pairing_ambiguous": "{date} 该单位有 {count} 个有效的结对关系，请指定一个。",
    "unit_purchase.order_used": "本单位已登记过这个订单号。",
    "unit_purchase.duplicate_order": "订单号 {order_id} 本单位已登记过（{date}，{amount_fen} 元）。",
    "unit_purchase.order_logged": "订单号 {order_id} 本单位已登记过。",
    "unit_purchase.logged_meanwhile": "订单号 {order_id} 正由他人登记。",
    "unit_purchase.county_required": "请选择文件所列单位所在的县。",
    "unit_purchase.bad_weight": "重量应大于 0，且不超过 {most} 公斤。",
    # Unit clerks and the units they supervise.
    "access.unit_only": "只有采购单位账号可以办理本单位的采购。",
    "account.unit_required": "采购单位账号必须绑定一个已登记的采购单位。",
    "buying_unit.parent_not_in_county": "上级单位不是 {county_code} 登记的采购单位。",
    "buying_unit.parent_loop": "上级单位不能是本单位或本单位的下属单位。",
    "unit_purchase.not_in_scope": "没有这条采购记录，或它不属于本单位。",
    # The place register (乡镇/街道、村/社区).
    "place.staff_only": "只有县级工作人员和管理员可以维护乡镇村名录。",
    "place.bad_code": "统计用区划代码应为 12 位数字。",
    "place.not_township_or_village": "{value} 是县级或以上区划，不是乡镇或村。",
    "place.name_required": "请填写名称。",
    "place.name_too_long": "名称最多 {limit} 个字符。",
    "place.bad_urban_rural_code": "城乡分类代码应为 111、112、121、122、123、210 或 220。",
    "place.township_has_no_class": "乡镇级没有城乡分类代码，请留空。",
    "place.outside_county": "不属于本名录的县 {county_code}。",
    "place.code_lost_digits": "Excel 把代码存成了数字，末尾几位已丢失；请把该列设为文本后重新填写。",
}


def _shown(name: str, value: Any) -> str:
    """A parameter as shown: fen as yuan, bp as percent, times in Shanghai, codes labelled, lists joined."""
    if name.endswith("_fen") and isinstance(value, int) and not isinstance(value, bool):
        return yuan(value)
    if name.endswith("_bp") and isinstance(value, int) and not isinstance(value, bool):
        return percent_bp(value)
    if name.endswith("_at") and isinstance(value, str) and value:
        return local_datetime(datetime.fromisoformat(value))
    if name in LABELS and isinstance(value, str):
        return label(value, name)
    if isinstance(value, (list, tuple)):
        return "、".join(str(item) for item in value)
    return "" if value is None else str(value)


def text(code: str | None, params: Mapping[str, Any] | None = None) -> str | None:
    """The Chinese text of a code with its params, or None when the catalogue has none."""
    template = CATALOGUE.get(code or "")
    if template is None:
        return None
    return template.format_map(_Shown({name: _shown(name, value) for name, value in (params or {}).items()}))


class _Shown(dict):
    # A value the message was not given is left out of the text, never an error on the page.
    def __missing__(self, name: str) -> str:
        return ""


def say(message: Any) -> str:
    """A message (coded text, marshmallow's message, or a stored row error) in Chinese, by its code.

    A message without a code (one stored before codes were kept) is shown as it was written.
    """
    if isinstance(message, Mapping):
        found = text(message.get("code"), message.get("params"))
        return found if found is not None else str(message.get("message") or "")
    coded = detail_code(message)
    found = text(*coded) if coded is not None else None
    return found if found is not None else str(message)


def refusal(error: ServiceError) -> str:
    """A service error's message in Chinese: the text of its code, else of its generic kind."""
    found = text(error.code, error.params) or text(error.kind)
    return found if found is not None else CATALOGUE["bad_request"]


def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, role)
