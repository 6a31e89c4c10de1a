"""Accounts and the audit log: staff open and manage accounts, everyone changes their own password.

Who may manage whom, the bindings of each role and the password rules stay in service.accounts;
the audit log is read through service.audit, which keeps county staff inside their counties.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

from bson import ObjectId
from flask import redirect, render_template, request, session, url_for

from schemas.auth import (
    AuditQueryArgsSchema,
    PasswordChangeSchema,
    UserCreateSchema,
    UserPatchSchema,
    UserQueryArgsSchema,
)
from service import accounts, audit, buying_units, canteens, counters, operators, storage
from service.access import ADMIN, CANTEEN, COUNTY_STAFF, ENTERPRISE, EVERYONE, ROLES, STAFF, UNIT, allow
from service.clock import SHANGHAI
from service.errors import ServiceError
from service.storage import get_db
from service.vocabulary import FIELD_LABELS
from service.web.core import (
    PageBlueprint,
    all_rows,
    current_principal,
    download_table,
    form_values,
    list_page,
    load_form,
    ok,
    page_number,
    query_args,
    service_error_fields,
    wants_xlsx,
)
from service.web.formatting import label, local_date, local_datetime, percent_bp, yuan
from service.xlsx import DATETIME, TEXT, Column

bp = PageBlueprint("account_pages", __name__)

# The form field that carries each role's binding (admins have none).
BINDING_FIELDS = {
    COUNTY_STAFF: "county_codes",
    ENTERPRISE: "operator_id",
    CANTEEN: "canteen_id",
    UNIT: "unit_id",
}
CHOICES_LIMIT = 2_000  # operators, canteens or buying units offered in a chooser; a county has far fewer

# Account messages the shared translations do not cover.
ENTITY_KINDS = {
    "product": "产品",
    "operator": "经营主体",
    "household": "脱贫户",
    "benefit_link": "带贫关系",
    "user": "账号",
    "canteen": "单位食堂",
    "canteen_purchase": "食堂采购",
    "counter": "专柜专馆专区",
    "import": "批量导入",
    "import_run": "销售导入",
}
AUDIT_ACTIONS = {
    "user.create": "开通账号",
    "user.update": "修改账号",
    "user.password_change": "修改本人密码",
    "product.create": "登记产品",
    "product.update": "修改产品",
    "product.map_sku": "对应渠道 SKU",
    "product.submit": "提交认定申请",
    "product.approve": "县级审定通过",
    "product.reject": "退回",
    "product.publicize": "开始公示",
    "product.object": "登记异议",
    "product.certify": "认定",
    "product.revoke": "撤销认定",
    "product.withdraw": "撤回认定申请",
    "operator.create": "登记经营主体",
    "operator.update": "修改经营主体",
    "operator.suspend": "暂停经营主体",
    "operator.reactivate": "恢复经营主体",
    "household.create": "登记脱贫户",
    "household.update": "修改脱贫户",
    "household.import": "导入脱贫户",
    "benefit_link.create": "建立带贫关系",
    "benefit_link.update": "修改带贫关系",
    "benefit_link.end": "结束带贫关系",
    "benefit_link.import": "导入带贫关系",
    "canteen.create": "登记单位食堂",
    "canteen.update": "修改单位食堂",
    "canteen.plan_set": "申报年度采购计划",
    "canteen_purchase.create": "登记食堂采购",
    "canteen_purchase.import": "导入食堂采购",
    "counter.create": "登记专柜",
    "counter.update": "修改专柜",
    "counter.rotate_secret": "更换专柜密钥",
    "sales.import": "导入销售数据",
}
# The pages a record of each kind opens on: (endpoint, argument).
ENTITY_PAGES = {
    "product": ("product_pages.product", "product_id"),
    "operator": ("operator_pages.operator", "operator_id"),
    "household": ("household_pages.household", "household_id"),
    "benefit_link": ("link_pages.link", "link_id"),
    "user": ("account_pages.user", "user_id"),
    "canteen": ("county_canteen_pages.canteen", "canteen_id"),
    "import_run": ("import_pages.run", "run_id"),
}
# Which labels a "status" field of each kind uses.
STATUS_LABELS = {
    "product": "status",
    "operator": "operator_status",
    "household": "household_status",
    "benefit_link_request": "link_request_status",
}
# Coded fields shown by their Chinese labels (formatting.LABELS), whatever the record.
CODE_LABELS = {
    "category": "category",
    "channel": "channel",
    "mechanism": "mechanism",
    "benefit_mechanisms": "mechanism",
    "role": "role",
    "unit_type": "unit_type",
}
# Stored as the first moment after the last day (links, certificates); shown as that last day.
_EXCLUSIVE_ENDS = ("valid_to", "valid_until")
_TITLE_FIELDS = ("name", "username", "household_no", "invoice_no", "cabinet_no")
_TEXT_LIMIT = 60


# Users ----------------------------------------------------------------------------------------


def _canteen_names() -> dict[ObjectId, str]:
    """The canteens the caller sees, by id: the choices of a canteen account's binding."""
    return {canteen["_id"]: canteen["name"] for canteen in all_rows(canteens.list_canteens, CHOICES_LIMIT)}


def _unit_choices() -> list[tuple[str, str]]:
    """The buying units the caller sees, by name: the choices of a unit account's binding."""
    return [
        (str(unit["_id"]), f"{unit['name']}（{unit['county_code']}）")
        for unit in all_rows(buying_units.list_units, CHOICES_LIMIT)
    ]


def _with_bindings(users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Accounts with the names of the operator, canteen or buying unit each is bound to."""
    db = get_db()
    operator_names = operators.names_by_id(db, (user.get("operator_id") for user in users))
    canteen_names = storage.names_by_id(db, storage.CANTEENS, (user.get("canteen_id") for user in users))
    unit_names = storage.names_by_id(db, storage.BUYING_UNITS, (user.get("unit_id") for user in users))
    return [
        {
            **user,
            "operator_name": operator_names.get(user.get("operator_id")),
            "canteen_name": canteen_names.get(user.get("canteen_id")),
            "unit_name": unit_names.get(user.get("unit_id")),
        }
        for user in users
    ]


def _binding_text(user: Mapping[str, Any]) -> str:
    if user["role"] == ENTERPRISE:
        return user.get("operator_name") or "—"
    if user["role"] == CANTEEN:
        return user.get("canteen_name") or "—"
    if user["role"] == UNIT:
        return user.get("unit_name") or "—"
    return "、".join(user.get("county_codes") or []) or "全部"


USER_COLUMNS = [
    Column("用户名", "username", TEXT, width=20),
    Column("姓名", "display_name", TEXT, width=16),
    Column("角色", lambda row: label(row["role"], "role"), TEXT),
    Column("县代码", lambda row: "、".join(row.get("county_codes") or []), TEXT),
    Column("绑定对象", _binding_text, TEXT, width=28),
    Column("状态", lambda row: "启用" if row.get("active", True) else "已停用", TEXT),
    Column("开通时间", "created_at", DATETIME),
]


def _offered_roles() -> tuple[str, ...]:
    """The roles the form offers the caller (the service still decides who may manage whom)."""
    return ROLES if current_principal().role == ADMIN else (ENTERPRISE, CANTEEN, UNIT)


@bp.route("/users/")
@allow(*STAFF)
def users():
    return list_page(
        accounts.list_users,
        UserQueryArgsSchema(),
        USER_COLUMNS,
        ("accounts.xlsx", "账号"),
        "web/accounts/users.html",
        decorate=_with_bindings,
        roles=_offered_roles(),
        binding_text=_binding_text,
    )


def _typed_password(name: str) -> dict[str, str]:
    """A password field as typed, untrimmed (the login page does not trim it either); {} when empty."""
    typed = request.form.get(name, "")
    return {name: typed} if typed else {}


def _create_data(values: Mapping[str, Any]) -> dict[str, Any]:
    """The account form as UserCreateSchema reads it: only the chosen role's binding is sent."""
    data = {name: values[name] for name in ("username", "display_name", "role") if name in values}
    data.update(_typed_password("password"))
    binding = BINDING_FIELDS.get(values.get("role", ""))
    if binding == "county_codes" and values.get("county_codes"):
        data["county_codes"] = [code for code in re.split(r"[\s,，、]+", values["county_codes"]) if code]
    elif binding in values:
        data[binding] = values[binding]
    return data


def _user_form(values: Mapping[str, Any], errors: Mapping[str, list[str]], status: int = 200):
    operator_choices = [
        (str(found["_id"]), f"{found['name']}（{found['county_code']}）")
        for found in all_rows(operators.list_operators, CHOICES_LIMIT, sort="name")
    ]
    canteen_choices = [(str(canteen_id), name) for canteen_id, name in _canteen_names().items()]
    return render_template(
        "web/accounts/new_user.html",
        values=values,
        errors=errors,
        role_choices=[(code, label(code, "role")) for code in _offered_roles()],
        operator_choices=operator_choices,
        canteen_choices=canteen_choices,
        unit_choices=_unit_choices(),
        min_password=accounts.MIN_PASSWORD_LENGTH,
    ), status


@bp.route("/users/new", methods=["GET", "POST"])
@allow(*STAFF)
def new_user():
    """Open an account; ?role=enterprise&operator_id=… (role=canteen&canteen_id=…, role=unit&unit_id=…)
    fills the binding."""
    if request.method == "GET":
        return _user_form(request.args.to_dict(), {})
    values = form_values()
    data, errors = load_form(UserCreateSchema(), _create_data(values))
    if errors:
        return _user_form(values, errors, 422)
    try:
        created = accounts.create_user(get_db(), current_principal(), data)
    except ServiceError as error:
        return _user_form(values, service_error_fields(error), error.status)
    ok(f"已开通账号 {created['username']}。请把用户名和初始密码告诉使用人，提醒其登录后修改密码。")
    return redirect(url_for(".user", user_id=created["_id"]))


# What each button on an account's page says when done.
USER_ACTIONS = {
    "deactivate": "已停用账号，该账号已在所有设备上退出登录。",
    "reactivate": "已重新启用账号。",
    "reset_password": "已重置密码，该账号已在所有设备上退出登录。请把新密码告诉使用人。",
    "rename": "已修改姓名。",
}


def _requested_changes(action: str) -> dict[str, Any]:
    """A button of the account's page as the changes UserPatchSchema reads."""
    if action in ("deactivate", "reactivate"):
        return {"active": action == "reactivate"}
    if action == "reset_password":
        return {"password": request.form.get("password", "")}
    return form_values(["display_name"])


def _user_page(user_id: ObjectId, errors: Mapping[str, list[str]], status: int = 200):
    db, principal = get_db(), current_principal()
    account = _with_bindings([accounts.get_user(db, principal, user_id)])[0]
    history, _ = audit.list_entries(db, principal, entity_kind="user", entity_id=str(user_id), per_page=20)
    return render_template(
        "web/accounts/user.html",
        account=account,
        binding=_binding_text(account),
        history=_described(history),
        errors=errors,
        min_password=accounts.MIN_PASSWORD_LENGTH,
    ), status


@bp.route("/users/<objectid:user_id>", methods=["GET", "POST"])
@allow(*STAFF)
def user(user_id):
    """An account: its binding and history; deactivate, reactivate, rename or reset its password."""
    if request.method == "GET":
        return _user_page(user_id, {})
    action = request.form.get("action", "")
    if action not in USER_ACTIONS:
        return _user_page(user_id, {"_form": ["请选择要执行的操作。"]}, 400)
    changes, errors = load_form(UserPatchSchema(), _requested_changes(action))
    if errors:
        return _user_page(user_id, errors, 422)
    try:
        accounts.update_user(get_db(), current_principal(), user_id, changes)
    except ServiceError as error:
        return _user_page(user_id, service_error_fields(error), error.status)
    ok(USER_ACTIONS[action])
    return redirect(url_for(".user", user_id=user_id))


# Own password ---------------------------------------------------------------------------------


def _password_form(errors: Mapping[str, list[str]], status: int = 200):
    return render_template(
        "web/accounts/password.html", errors=errors, min_password=accounts.MIN_PASSWORD_LENGTH
    ), status


@bp.route("/account/password", methods=["GET", "POST"])
@allow(*EVERYONE)
def password():
    """Change one's own password; every session of the account ends, so the user signs in again."""
    if request.method == "GET":
        return _password_form({})
    typed = {**_typed_password("current_password"), **_typed_password("new_password")}
    data, errors = load_form(PasswordChangeSchema(), typed)
    if request.form.get("new_password_confirm", "") != request.form.get("new_password", ""):
        errors = {**errors, "new_password_confirm": ["两次输入的新密码不一致。"]}
    if errors:
        return _password_form(errors, 422)
    try:
        accounts.change_own_password(
            get_db(),
            current_principal(),
            data["current_password"],
            data["new_password"],
            address=request.remote_addr or "unknown",
        )
    except ServiceError as error:
        return _password_form(service_error_fields(error), error.status)
    # The service revoked this session's token with all the others: start a clean session.
    session.clear()
    ok("密码已修改，所有设备均已退出登录。请用新密码重新登录。")
    return redirect(url_for("auth_pages.login"))


# Audit log ------------------------------------------------------------------------------------


def field_label(name: str) -> str:
    """A changed field's Chinese name; a nested one joins its parent's ("年度采购计划 · 预留比例")."""
    return " · ".join(FIELD_LABELS.get(part, part) for part in name.split("."))


def _coded(value: Any, name: str, kind: str) -> str | None:
    """The Chinese label of a coded value, or None when the field holds no code."""
    if name == "status" and kind in STATUS_LABELS:
        return label(value, STATUS_LABELS[kind])
    if name == "kind" and kind == "operator":
        return label(value, "operator_kind")
    if name == "kind" and kind == "counter":
        return counters.KINDS.get(value, str(value))
    if name in CODE_LABELS:
        return label(value, CODE_LABELS[name])
    return None


def _moment(value: datetime, name: str) -> str:
    """A time in Asia/Shanghai; a day's first moment as the day (an exclusive end as its last day)."""
    local = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(SHANGHAI)
    if local.time() != time.min:
        return local_datetime(local)
    return local_date(local - timedelta(days=1) if name in _EXCLUSIVE_ENDS else local)


def _item(value: Any, name: str, kind: str) -> str:
    """One item of a listed field: a channel's SKU, a dated rate, a certificate, a code."""
    if isinstance(value, Mapping):
        if "benefit_rate_bp" in value:
            since = _shown(value.get("valid_from"), "valid_from", kind)
            return f"{percent_bp(value['benefit_rate_bp'])}（{since}起）"
        if "sku" in value:
            return f"{label(value.get('channel'), 'channel')}：{value['sku']}"
        if "certificate_no" in value:
            return str(value["certificate_no"])
        return "；".join(f"{field_label(key)}：{_shown(item, key, kind)}" for key, item in value.items())
    return _coded(value, name, kind) or str(value)


def _shown(value: Any, name: str, kind: str) -> str:
    """A logged value as a reader sees it: yuan, percentages, Asia/Shanghai times, Chinese labels."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    leaf = name.rsplit(".", 1)[-1]
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime):
        return _moment(value, leaf)
    if leaf.endswith("_fen") and isinstance(value, int):
        return f"{yuan(value)} 元"
    if leaf.endswith("_bp") and isinstance(value, int):
        return percent_bp(value)
    if isinstance(value, list):
        text = "、".join(_item(item, leaf, kind) for item in value)
    elif isinstance(value, Mapping):
        text = _item(value, leaf, kind)
    else:
        text = _coded(value, leaf, kind) or str(value)
    return text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 1] + "…"


def _changes(entry: Mapping[str, Any]) -> list[dict[str, str]]:
    """An update's changes as 字段：旧值 → 新值, in Chinese; a creation lists none (it is all new)."""
    kind = entry["entity"]["kind"]
    return [
        {"field": field_label(name), "before": _shown(before, name, kind), "after": _shown(after, name, kind)}
        for name, before, after in audit.changed_fields(entry)
    ]


def _entity_title(entry: Mapping[str, Any]) -> str:
    snapshot = entry.get("after") or entry.get("before") or {}
    found = next((snapshot[key] for key in _TITLE_FIELDS if snapshot.get(key)), None)
    return str(found or entry["entity"].get("id") or "—")


def _entity_url(entity: Mapping[str, Any]) -> str | None:
    page = ENTITY_PAGES.get(entity["kind"])
    if page is None or not isinstance(entity.get("id"), ObjectId):
        return None
    endpoint, argument = page
    return url_for(endpoint, **{argument: entity["id"]})


def _described(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Audit entries as the log shows them: who did what to which record, and what changed."""
    return [
        {
            **entry,
            "actor_name": entry["actor"].get("username"),
            "actor_role": label(entry["actor"].get("role"), "role"),
            "action_label": AUDIT_ACTIONS.get(entry["action"], entry["action"]),
            "kind_label": ENTITY_KINDS.get(entry["entity"]["kind"], entry["entity"]["kind"]),
            "title": _entity_title(entry),
            "url": _entity_url(entry["entity"]),
            "changes": _changes(entry),
        }
        for entry in entries
    ]


AUDIT_COLUMNS = [
    Column("时间", "at", DATETIME),
    Column("操作人", "actor_name", TEXT, width=18),
    Column("角色", "actor_role", TEXT),
    Column("操作", "action_label", TEXT, width=18),
    Column("对象类型", "kind_label", TEXT),
    Column("对象", "title", TEXT, width=28),
    Column("县代码", "county_code", TEXT),
    Column(
        "变更内容",
        lambda row: "；".join(
            f"{item['field']}：{item['before']} → {item['after']}" for item in row["changes"]
        ),
        TEXT,
        width=50,
    ),
    Column("说明", "note", TEXT, width=30),
]


@bp.route("/audit/", endpoint="audit")
@allow(*STAFF)
def audit_log():
    """Who did what to which record, newest first, by person, record and day (Asia/Shanghai)."""
    args, errors = query_args(AuditQueryArgsSchema())
    filters = dict(args)
    if wants_xlsx():
        return download_table(
            AUDIT_COLUMNS, _described(all_rows(audit.list_entries, **filters)), "audit-log.xlsx", "操作日志"
        )
    page = page_number()
    items, total = audit.list_entries(get_db(), current_principal(), **{**filters, "page": page})
    return render_template(
        "web/accounts/audit.html",
        entries=_described(items),
        total=total,
        page=page,
        per_page=args["per_page"],
        args=request.args,
        errors=errors,
        entity_kinds=ENTITY_KINDS,
        actions=AUDIT_ACTIONS,
        counties=current_principal().county_codes,
    )
