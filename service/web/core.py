"""What every page shares: session login, access enforcement, CSRF, forms, errors, downloads.

Pages declare access with the same ``@allow``/``@public`` as the API and call the same service
functions with the same ``Principal``; only the way a principal is found (a session cookie
holding the opaque token instead of a bearer header) and the way errors are shown differ.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import marshmallow as ma
from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from adapters import tabular
from schemas.reports import HouseholdIncomeQueryArgsSchema
from service import access, auth, operators, report_cache, storage, todos, xlsx
from service.errors import Coded, Forbidden, ServiceError, Unauthorized, http_error_code, validation_summary
from service.web import messages

csrf = CSRFProtect()
SESSION_TOKEN = "token"  # noqa: S105 - the session key, not a secret
_FORM_CONTROLS = frozenset({"csrf_token", "action", "next"})


class PageBlueprint(Blueprint):
    """A blueprint of HTML pages: session login and CSRF apply to every route on it."""


def _page_view_rule() -> access.Access | None:
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    return access.access_of(view)


def is_page_request() -> bool:
    return isinstance(current_app.blueprints.get(request.blueprint or ""), PageBlueprint)


def principal_from_session() -> access.Principal | None:
    """The session's principal, or None when not logged in or the token expired or was revoked."""
    token = session.get(SESSION_TOKEN)
    if not token:
        return None
    try:
        return auth.principal_for_token(storage.get_db(), token)
    except Unauthorized:
        session.pop(SESSION_TOKEN, None)
        return None


def enforce_page_access():
    """before_request for pages: fail closed, send strangers to the login page, 403 other roles."""
    if request.endpoint is None or not is_page_request():
        return None
    # g outlives a request when an app context was already pushed (tests, scripts): start clean.
    for name in ("principal", "csrf_token", "todos"):
        g.pop(name, None)
    rule = _page_view_rule()
    if rule is None:
        raise Forbidden(Coded("access.no_policy", "This page declares no access policy."))
    current = principal_from_session()
    if current is not None:
        g.principal = current
    if current is None and not rule.public:
        # Before the CSRF check: an expired session has lost its CSRF token too, and nothing is changed here.
        if request.method == "GET":
            return redirect(url_for("auth_pages.login", next=request.full_path.rstrip("?")))
        flash("登录已过期，请重新登录后再提交。", "error")
        return redirect(url_for("auth_pages.login"))
    if request.method in {"POST", "PUT", "PATCH", "DELETE"}:
        csrf.protect()
    if rule.public:
        return None
    if current.role not in rule.roles:
        raise Forbidden(
            Coded("page.role_refused", f"The {current.role} role may not open this page.", role=current.role)
        )
    return None


def current_principal() -> access.Principal:
    return g.principal


def safe_next(target: str | None, default: str) -> str:
    """Only a local path may be a redirect target after login (no open redirect)."""
    if not target:
        return default
    parts = urlsplit(target)
    # Browsers read a backslash as a slash, so "/\\evil.example" would leave the site too.
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
    ):
        return default
    return target


def home_url(role: str) -> str:
    if role in access.STAFF:
        return url_for("county_pages.dashboard")
    if role == access.ENTERPRISE:
        return url_for("enterprise_pages.home")
    if role == access.UNIT:
        return url_for("unit_pages.home")
    return url_for("canteen_pages.home")


# Each role's menu: (endpoint, label).
NAV = {
    "staff": [
        ("county_pages.dashboard", "首页"),
        ("certification_pages.review_queue", "产品审核"),
        ("product_pages.products", "产品"),
        ("operator_pages.operators", "经营主体"),
        ("household_pages.households", "脱贫户"),
        ("place_pages.places_page", "乡镇村"),
        ("link_pages.links", "带贫关系"),
        ("import_pages.imports", "销售导入"),
        ("import_pages.unmatched", "未匹配商品"),
        ("status_mapping_pages.mappings", "订单状态映射"),
        ("county_canteen_pages.canteens", "单位食堂"),
        ("buyer_pages.units", "采购单位"),
        ("buyer_pages.report", "帮扶采购统计"),
        ("payout_pages.payouts", "到户资金"),
        ("payout_pages.control_totals", "账实核对"),
        ("statement_pages.income_line_page", "收入监测线"),
        ("statement_pages.verify", "明白卡核验"),
        ("account_pages.users", "账号"),
        ("account_pages.audit", "操作日志"),
    ],
    access.ENTERPRISE: [
        ("enterprise_pages.home", "首页"),
        ("enterprise_pages.profile", "主体信息"),
        ("enterprise_pages.products", "我的产品"),
        ("enterprise_pages.links", "带贫关系"),
        ("enterprise_pages.sales", "销售与带贫收益"),
        ("payout_pages.payouts", "到户资金"),
        ("import_pages.imports", "销售导入"),
    ],
    access.CANTEEN: [
        ("canteen_pages.home", "首页"),
        ("canteen_pages.new_purchase", "登记采购"),
        ("canteen_pages.upload", "上传月度采购表"),
        ("canteen_pages.purchases", "采购记录"),
    ],
    access.UNIT: [
        ("unit_pages.home", "首页"),
        ("unit_pages.new_purchase", "登记采购"),
        ("unit_pages.upload", "导入采购表"),
        ("unit_pages.purchases", "采购记录"),
    ],
}


def nav_items(role: str) -> list[tuple[str, str]]:
    return NAV["staff" if role in access.STAFF else role]


def menu_todos() -> list[dict[str, Any]]:
    """The logged-in caller's to-dos for the menu, each with the URL of the list it counts.

    Counted once a request, and only when a page's menu asks; a refusal leaves the menu without them.
    """
    if "todos" not in g:
        principal = g.get("principal")
        try:
            cache = report_cache.for_app(current_app)
            found = todos.todos(storage.get_db(), principal, cache) if principal is not None else []
        except ServiceError:
            found = []
        g.todos = [
            {
                "key": todo.key,
                "label": todo.label,
                "count": todo.count,
                "overdue": todo.overdue,
                "endpoint": todo.endpoint,
                "url": url_for(todo.endpoint, **todo.args) + (f"#{todo.anchor}" if todo.anchor else ""),
            }
            for todo in found
        ]
    return g.todos


# Forms ------------------------------------------------------------------------


def form_values(names: Iterable[str] | None = None) -> dict[str, Any]:
    """The submitted form as a dict: values stripped, empty fields left out, controls dropped.

    Multi-valued fields (checkbox groups) become lists of strings. Values are never dicts, so
    nothing a user types can become a MongoDB operator.
    """
    wanted = set(names) if names is not None else None
    values: dict[str, Any] = {}
    for key in request.form:
        if key in _FORM_CONTROLS or (wanted is not None and key not in wanted):
            continue
        items = [item.strip() for item in request.form.getlist(key)]
        items = [item for item in items if item != ""]
        if not items:
            continue
        values[key] = items if len(items) > 1 or key.endswith("[]") else items[0]
    return {key.removesuffix("[]"): value for key, value in values.items()}


STALE_MESSAGE = "该记录已被他人修改，请刷新页面后重新填写。"
REQUIRED_MESSAGE = "必填。"
FIX_BELOW = "请改正下面标出的内容。"
WHOLE_NUMBER_MESSAGE = "请填写整数。"


def missing_required(values: Mapping[str, Any], required: tuple[str, ...]) -> dict[str, list[str]]:
    # A whole form is submitted: an empty required box is an error, not "leave unchanged".
    return {name: [REQUIRED_MESSAGE] for name in required if name not in values}


def submitted_version() -> int:
    """The version the form was rendered from (If-Match); a missing or bad one never matches."""
    version = request.form.get("version", "")
    return int(version) if version.isdigit() else 0


def form_status(errors: Mapping[str, list[str]]) -> int:
    return 409 if STALE_MESSAGE in errors.get("_form", []) else 422


def merge_errors(first: dict[str, list[str]], then: dict[str, list[str]]) -> dict[str, list[str]]:
    """Errors of both, a field's first errors winning (one clear message per field)."""
    return {**then, **first}


def load_form(
    schema: ma.Schema, data: Mapping[str, Any]
) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """Load form data with the API's schema; (data, {}) or (None, errors by field in Chinese)."""
    try:
        return schema.load(data), {}
    except ma.ValidationError as error:
        return None, field_errors(error.messages)


def field_errors(details: Any) -> dict[str, list[str]]:
    """Errors keyed by field (a marshmallow or ServiceError ``details``), translated for the page."""
    if not isinstance(details, Mapping):
        return {"_form": [messages.say(details)]}
    result: dict[str, list[str]] = {}
    for key, value in details.items():
        if isinstance(value, Mapping):
            for inner, inner_messages in field_errors(value).items():
                target = key if inner.isdigit() or inner == "_schema" else inner
                result.setdefault(str(target), []).extend(inner_messages)
            continue
        items = value if isinstance(value, (list, tuple)) else [value]
        name = "_form" if key in {"_schema", "json", "form"} else str(key)
        result.setdefault(name, []).extend(messages.say(item) for item in items)
    return result


def service_error_fields(error: ServiceError) -> dict[str, list[str]]:
    """A service error as form errors: its field details, and the message above the form."""
    if error.status == 412:
        return {"_form": [STALE_MESSAGE]}
    errors = field_errors(error.details) if error.details else {}
    errors.setdefault("_form", []).insert(0, messages.refusal(error))
    return errors


def refusal_errors(error: ServiceError, scope_field: str | None = None) -> dict[str, list[str]]:
    """A refusal as form errors in Chinese; a county refusal shows at the field that chose the county too."""
    errors = service_error_fields(error)
    if error.details and error.message == validation_summary(error.details):
        errors["_form"] = [FIX_BELOW]  # the summary lists API field names
    if error.status == 403 and scope_field:
        errors.setdefault(scope_field, errors["_form"])
    return errors


def joined(errors: Mapping[str, list[str]]) -> str:
    """Form errors as one line, for a flashed message."""
    return " ".join(message for messages in errors.values() for message in messages)


def refusal_line(error: ServiceError) -> str:
    """A refusal as one flashed line: what is wrong with the fields, else the service's message."""
    errors = refusal_errors(error)
    fields = {name: found for name, found in errors.items() if name != "_form"}
    return joined(fields if error.status == 422 and fields else {"_form": errors["_form"]})


def whole_numbers(values: Mapping[str, Any], names: Iterable[str]) -> tuple[dict[str, Any], dict]:
    """The form with the named boxes as ints (the API's strict integers take no text), and their errors."""
    converted, errors = dict(values), {}
    for name in names:
        if converted.get(name) is not None:
            try:
                converted[name] = tabular.parse_whole_number(converted[name])
            except ValueError:
                errors[name] = [WHOLE_NUMBER_MESSAGE]
                del converted[name]
    return converted, errors


def read_form(schema: ma.Schema, values: Mapping[str, Any], numbers: Iterable[str] = ()):
    """(data, {}) or (None, errors): the form read with the API's schema, whole numbers converted first."""
    converted, number_errors = whole_numbers(values, numbers)
    data, errors = load_form(schema, converted)
    errors = merge_errors(number_errors, errors)
    return (None if errors else data), errors


def county_options() -> list[tuple[str, str]]:
    """The counties a staff member may choose, as (code, text) choices (an admin types a code instead)."""
    return [(code, code) for code in current_principal().county_codes]


def operator_options(**filters: Any) -> list[tuple[str, str]]:
    """The operators the caller sees (of the staff's counties), for a drop-down."""
    found = all_rows(operators.list_operators, limit=1_000, sort="name", benefit_figures=False, **filters)
    return [(str(operator["_id"]), operator["name"]) for operator in found]


Importer = Callable[..., dict[str, Any]]


def import_page(
    importer: Importer, schema: ma.Schema, template: str, **context: Any
) -> tuple[str, int] | str:
    """A register upload: its form, then the service's counts and row errors (file row numbers)."""
    if request.method == "GET":
        return render_template(template, values={}, errors={}, result=None, **context)
    values = form_values(schema.fields)
    form, errors = read_form(schema, values)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        errors["file"] = ["请选择要上传的文件（xlsx 或 CSV）。"]
    result = None
    if not errors:
        try:
            result = importer(storage.get_db(), current_principal(), upload.stream, upload.filename, **form)
        except ServiceError as error:
            errors = refusal_errors(error)
    page = render_template(template, values=values, errors=errors, result=result, **context)
    return page, (422 if errors else 200)


def query_args(schema: ma.Schema, *, ignore: Sequence[str] = ("format", "page")) -> tuple[dict, dict]:
    """A list page's filters, read with the API's query schema; unknown and bad values are reported."""
    raw = {key: value for key, value in request.args.items() if key not in ignore and value.strip() != ""}
    try:
        return schema.load(raw, unknown=ma.EXCLUDE), {}
    except ma.ValidationError as error:
        valid = {key: value for key, value in raw.items() if key not in error.messages}
        try:
            loaded = schema.load(valid, unknown=ma.EXCLUDE)
        except ma.ValidationError:
            loaded = schema.load({}, unknown=ma.EXCLUDE)
        return loaded, field_errors(error.messages)


# Downloads hold every filtered row, fetched a page at a time.
DOWNLOAD_PAGE = 200  # the largest page the list services serve


def all_rows(
    list_page: Callable[..., tuple[list, int]], limit: int | None = None, **filters: Any
) -> list[dict]:
    """Every row of a paged list service for the current principal (the first ``limit``, if given)."""
    rows: list[dict[str, Any]] = []
    page = 1
    while limit is None or len(rows) < limit:
        items, total = list_page(
            storage.get_db(), current_principal(), **{**filters, "page": page, "per_page": DOWNLOAD_PAGE}
        )
        rows.extend(items)
        if len(items) < DOWNLOAD_PAGE or len(rows) >= total:
            break
        page += 1
    return rows[:limit]


def list_page(
    list_rows: Callable[..., tuple[list, int]],
    schema: ma.Schema,
    columns: Sequence[xlsx.Column],
    download: tuple[str, str],
    template: str,
    decorate: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] = list,
    **context: Any,
):
    """A filtered, paged list page; with ?format=xlsx, all its filtered rows as a workbook."""
    args, errors = query_args(schema)
    if wants_xlsx():
        filename, title = download
        return download_table(columns, decorate(all_rows(list_rows, **args)), filename, title)
    page = page_number()
    items, total = list_rows(storage.get_db(), current_principal(), **{**args, "page": page})
    return render_template(
        template,
        items=decorate(items),
        total=total,
        page=page,
        per_page=args["per_page"],
        args=request.args,
        errors=errors,
        **context,
    )


def with_operator_names(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows (already visible to the caller) with the name of the operator each names."""
    names = operators.names_by_id(storage.get_db(), (row["operator_id"] for row in rows))
    return [{**row, "operator_name": names.get(row["operator_id"])} for row in rows]


def period_report(report: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any):
    """A report over the page's ``from``/``to`` months (read as the API reads them): (report, errors).

    A bad period is shown above the report, which then covers the current year.
    """
    period, errors = query_args(HouseholdIncomeQueryArgsSchema())
    db = storage.get_db()
    try:
        return report(db, current_principal(), *args, **period, **kwargs), errors
    except ServiceError as error:
        if error.status != 422:
            raise
        return report(db, current_principal(), *args, **kwargs), service_error_fields(error)


def page_number(default: int = 1) -> int:
    raw = request.args.get("page", "")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 100_000 else default


def wants_xlsx() -> bool:
    return request.args.get("format") == "xlsx"


def download_table(
    columns: Sequence[xlsx.Column], rows: Iterable[Mapping[str, Any]], filename: str, title: str
):
    """A table of a page as an xlsx download (the same columns as shown)."""
    return xlsx.send_xlsx(xlsx.rows_to_xlsx(columns, rows, title), filename)


def send_sheets(sheets: Iterable[xlsx.Sheet], filename: str):
    """A record's page as a workbook of several sheets."""
    return xlsx.send_xlsx(xlsx.write_xlsx(sheets), filename)


def column_template(columns: Iterable[str], filename: str, title: str):
    """An empty workbook with an import's header row, to fill in."""
    return download_table(
        [xlsx.Column(name, name, xlsx.TEXT, width=20) for name in columns], [], filename, title
    )


def xlsx_url(**overrides: Any) -> str:
    """The current page's URL asking for its xlsx download (same filters)."""
    args = {**request.args.to_dict(), **overrides, "format": "xlsx"}
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def url_with(**overrides: Any) -> str:
    """The current page's URL with some query arguments replaced (paging, sorting)."""
    args = {**request.args.to_dict(), **overrides}
    args = {key: value for key, value in args.items() if value not in (None, "")}
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def ok(message: str) -> None:
    flash(message, "ok")


def fail(message: str) -> None:
    flash(message, "error")


# Errors -------------------------------------------------------------------------

_TITLES = {
    400: "请求有误",
    401: "请先登录",
    403: "没有权限",
    404: "页面不存在",
    405: "不支持的操作",
    409: "操作冲突",
    412: "记录已被他人修改",
    413: "文件太大",
    422: "填写有误",
    428: "记录已被他人修改",
    429: "操作太频繁",
    500: "服务出错",
}


def render_error_page(status: int, message: str):
    title = _TITLES.get(status, "出错了")
    return render_template("web/error.html", status=status, title=title, message=message), status


def render_http_error(error: HTTPException):
    if isinstance(error, CSRFError):
        return render_error_page(400, "表单已过期或来源不明（CSRF 校验失败）。请返回、刷新页面后再提交。")
    status = error.code or 500
    if status == 413:
        limit = current_app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
        return render_error_page(413, f"上传的文件超过 {limit} MB。")
    return render_error_page(status, messages.text(http_error_code(error)) or _TITLES.get(status, "出错了"))


def render_page_service_error(error: ServiceError):
    if error.status == 401:
        session.pop(SESSION_TOKEN, None)
        return redirect(url_for("auth_pages.login", next=request.full_path.rstrip("?")))
    return render_error_page(error.status, messages.refusal(error))


def init_app(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # checked for pages only (the API uses tokens)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid as long as the session
    csrf.init_app(app)
    app.before_request(enforce_page_access)
    app.context_processor(lambda: {"menu_todos": menu_todos})
    app.extensions["page_error_renderer"] = render_http_error
    app.extensions["page_service_error_renderer"] = render_page_service_error
