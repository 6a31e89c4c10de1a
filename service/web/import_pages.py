"""Sales imports: upload a channel's export (dry run, then import), runs and row errors, unmatched SKUs.

Staff import into their counties; an enterprise imports its own shop's exports into its operator's
county, and the service rejects lines of other operators' products and shows it its own runs only.

An export is one file, or for 淘宝 two (the order report and the item report, chosen together in
one file input). A dry run keeps its files (service/pending_uploads.py), so 确认导入 imports the
very same bytes, once, on any worker, without asking for the files again (import_confirm.confirm_run).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app, redirect, render_template, request, url_for

from adapters.base import REGISTRY
from schemas.imports import (
    ImportRunFormSchema,
    ImportRunQueryArgsSchema,
    UnmatchedMapSchema,
    UnmatchedQueryArgsSchema,
)
from service import import_confirm, import_runs, imports, pending_uploads, report_cache, unmatched, xlsx
from service.access import ENTERPRISE, STAFF, allow
from service.errors import ServiceError
from service.storage import get_db
from service.vocabulary import (
    CHANNEL_LABELS,
    IMPORT_COUNT_LABELS,
    IMPORT_RUN_STATUS_LABELS,
    SALE_LINE_FIELD_LABELS,
)
from service.web.core import (
    PageBlueprint,
    all_rows,
    current_principal,
    download_table,
    fail,
    form_values,
    load_form,
    ok,
    page_number,
    query_args,
    service_error_fields,
    wants_xlsx,
)
from service.web.messages import refusal, say

bp = PageBlueprint("import_pages", __name__, url_prefix="/imports")

NO_FILE = "请选择要导入的文件（淘宝请同时选择订单报表和宝贝报表两个文件）。"
# A refused confirmation, by its error code.
CONFIRM_REFUSALS = {
    import_confirm.DryRunFilesGone.code: (
        f"试导入的文件已不在暂存区（暂存 {pending_uploads.KEPT_FOR_HOURS} 小时、最多 "
        f"{pending_uploads.MAX_KEPT_MIB} MiB；已过期、过大或不完整），请重新选择文件导入。"
    ),
    import_confirm.NotConfirmable.code: "只有成功的试导入才能确认导入。",
    import_confirm.ConfirmationInProgress.code: "这次试导入正在确认导入，请稍后刷新。",
}
# Each row of the unmatched list carries a product chooser, so the list is paged.
UNMATCHED_PER_PAGE = 50
SUGGESTION_REASONS = {unmatched.BARCODE: "条形码相同", unmatched.NAME: "名称相近"}
# A refused row of a batch mapping, by its code.
MAPPING_REFUSALS = {
    unmatched.UNKNOWN_CHANNEL: "未知的渠道。",
    unmatched.NO_SUCH_PRODUCT: "没有这个产品。",
    unmatched.SKU_HELD: "该 SKU 已对应到其他产品。",
    unmatched.SKU_TWICE: "同一个 SKU 不能同时对应到两个产品。",
}


def channel_options() -> list[tuple[str, str]]:
    """The importers that read an uploaded file, labelled for people."""
    options = []
    for name, adapter in sorted(REGISTRY.items()):
        if not adapter.media:
            continue  # an API pull, not a file
        text = CHANNEL_LABELS.get(adapter.channel, adapter.channel)
        if adapter.label != text:
            text += f"（{adapter.label}）"
        options.append((name, f"{text} · {'/'.join(adapter.media).upper()}"))
    return options


def run_files(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The files a run read (runs recorded before exports of several files name one, as ``source``)."""
    return run.get("files") or [run["source"]]


def file_names(run: dict[str, Any]) -> list[str]:
    return [file.get("filename") or "" for file in run_files(run)]


def row_error_fields(error: dict[str, Any]) -> dict[str, Any]:
    """A row error as the page and its download show it."""
    field = error.get("field")
    return {
        "row": error.get("row"),
        "field": SALE_LINE_FIELD_LABELS.get(field, field) if field else "",
        "message": say(error),
    }


RUN_COLUMNS = [
    xlsx.Column("开始时间", "started_at", xlsx.DATETIME),
    xlsx.Column("渠道", lambda run: CHANNEL_LABELS.get(run["channel"], run["channel"]), xlsx.TEXT),
    xlsx.Column("县", "county_code", xlsx.TEXT),
    xlsx.Column("文件名", lambda run: "、".join(file_names(run)), xlsx.TEXT),
    xlsx.Column("方式", lambda run: "试导入" if run["dry_run"] else "正式导入", xlsx.TEXT),
    xlsx.Column("状态", lambda run: IMPORT_RUN_STATUS_LABELS.get(run["status"], run["status"]), xlsx.TEXT),
    *(xlsx.Column(label, name, xlsx.INTEGER) for name, label in IMPORT_COUNT_LABELS.items()),
    xlsx.Column("操作人", lambda run: run["started_by"].get("username"), xlsx.TEXT),
]
ROW_ERROR_COLUMNS = [
    xlsx.Column("行号", "row", xlsx.INTEGER),
    xlsx.Column("字段", "field", xlsx.TEXT),
    xlsx.Column("问题", "message", xlsx.TEXT),
]
UNMATCHED_COLUMNS = [
    xlsx.Column("县", "county_code", xlsx.TEXT),
    xlsx.Column("渠道", lambda item: CHANNEL_LABELS.get(item["channel"], item["channel"]), xlsx.TEXT),
    xlsx.Column("SKU", "sku", xlsx.TEXT),
    xlsx.Column("条形码", "barcode", xlsx.TEXT),
    xlsx.Column("商品名称（示例）", "sample_title", xlsx.TEXT),
    xlsx.Column("销售笔数", "lines", xlsx.INTEGER),
    xlsx.Column("数量", "quantity", xlsx.INTEGER),
    xlsx.Column("销售额（元）", "sales_fen", xlsx.FEN),
    xlsx.Column("最早", "first_seen", xlsx.DATETIME),
    xlsx.Column("最近", "last_seen", xlsx.DATETIME),
]


# Uploads and runs ---------------------------------------------------------------------------------


@bp.route("/", endpoint="imports")
@allow(*STAFF, ENTERPRISE)
def import_list():
    return imports_view({"dry_run": "on"}, {})


def imports_view(values: dict[str, Any], errors: dict[str, list[str]], status: int = 200):
    """The upload form (with what was entered and its errors) above the list of runs."""
    principal = current_principal()
    args, filter_errors = query_args(ImportRunQueryArgsSchema())
    if wants_xlsx():
        return download_table(
            RUN_COLUMNS, all_rows(import_runs.list_runs, **args), "import-runs.xlsx", "销售导入记录"
        )
    args["page"] = page_number()
    runs, total = import_runs.list_runs(get_db(), principal, **args)
    return render_template(
        "web/imports/imports.html",
        values=values,
        errors={**filter_errors, **errors},
        channels=channel_options(),
        channel_filter_options=list(CHANNEL_LABELS.items()),
        county_options=[(code, code) for code in principal.county_codes],
        # The service imports an enterprise's file into its operator's county, its own products only.
        own_products_only=principal.role == ENTERPRISE,
        runs=runs,
        page=args["page"],
        per_page=args["per_page"],
        total=total,
        filters=request.args,
        run_status_labels=IMPORT_RUN_STATUS_LABELS,
    ), status


@bp.route("/", methods=["POST"])
@allow(*STAFF, ENTERPRISE)
def upload():
    values = form_values(("channel", "county_code", "dry_run"))
    form, errors = load_form(ImportRunFormSchema(), values)
    uploaded = [upload for upload in request.files.getlist("file") if upload.filename]
    if not uploaded:
        errors["file"] = [NO_FILE]
    if errors:
        return imports_view(values, errors, 422)
    try:
        run = imports.run_import(
            get_db(),
            current_principal(),
            form["channel"],
            [(upload.stream, upload.filename) for upload in uploaded],
            county_code=form.get("county_code"),
            dry_run=form["dry_run"],
        )
    except ServiceError as error:
        return imports_view(values, translated_errors(error), error.status)
    if run["dry_run"]:
        ok("试导入完成，没有写入台账。请核对结果后确认导入。")
    else:
        ok("导入完成。")
    return redirect(url_for(".run", run_id=run["_id"]))


def translated_errors(error: ServiceError) -> dict[str, list[str]]:
    """A service error as form errors (a failed run's id kept apart, to link to it)."""
    errors = service_error_fields(error)
    run_id = error.details.get("import_run_id")
    errors.pop("import_run_id", None)
    if run_id:
        errors["failed_run_id"] = [run_id]
    return errors


@bp.route("/<objectid:run_id>")
@allow(*STAFF, ENTERPRISE)
def run(run_id):
    db = get_db()
    found = import_runs.get_run(db, current_principal(), run_id)
    row_errors = [row_error_fields(error) for error in found.get("errors") or []]
    if wants_xlsx():
        return download_table(ROW_ERROR_COLUMNS, row_errors, f"import-{run_id}-errors.xlsx", "导入错误行")
    confirmable = found["dry_run"] and found["status"] == import_runs.SUCCEEDED
    confirmed_run_id = found.get("confirmed_run_id") if confirmable else None
    return render_template(
        "web/imports/run.html",
        run=found,
        files=run_files(found),
        row_errors=row_errors,
        skipped=[
            (say({**item, "message": item["reason"]}), item["rows"])
            for item in found.get("skipped_reasons") or []
        ],
        count_labels=IMPORT_COUNT_LABELS,
        run_status_labels=IMPORT_RUN_STATUS_LABELS,
        kept_until=pending_uploads.kept_until(db, run_id) if confirmable and not confirmed_run_id else None,
        confirmable=confirmable,
        confirmed_run_id=confirmed_run_id,
        error=say(
            {"code": found.get("error_code"), "params": found.get("error_params"), "message": found["error"]}
        )
        if found.get("error")
        else None,
    )


@bp.route("/<objectid:run_id>/confirm", methods=["POST"])
@allow(*STAFF, ENTERPRISE)
def confirm(run_id):
    """Import a successful dry run's kept files for real, as the person confirming."""
    try:
        confirmation = import_confirm.confirm_run(get_db(), current_principal(), run_id)
    except (
        import_confirm.DryRunFilesGone,
        import_confirm.NotConfirmable,
        import_confirm.ConfirmationInProgress,
    ) as error:
        fail(CONFIRM_REFUSALS[error.code])
        gone = isinstance(error, import_confirm.DryRunFilesGone)
        return redirect(url_for(".imports") if gone else url_for(".run", run_id=run_id))
    except ServiceError as error:
        failed_run_id = error.details.get("import_run_id")
        if failed_run_id is None:
            raise
        fail(refusal(error))
        # The kept files stay, so the import can be confirmed again once the cause is fixed.
        return redirect(url_for(".run", run_id=failed_run_id))
    if confirmation.created:
        ok("已确认导入，销售已写入台账。")
    else:
        ok("这次试导入已经确认导入过，不会重复导入；下面是那次导入。")
    return redirect(url_for(".run", run_id=confirmation.run["_id"]))


# Unmatched SKUs -----------------------------------------------------------------------------------


@bp.route("/unmatched", methods=["GET", "POST"], endpoint="unmatched")
@allow(*STAFF)
def unmatched_list():
    """The unmatched SKUs of the period, searchable, each with a product chooser; one submit maps
    every row given a product (all or none), and the same list comes back."""
    db = get_db()
    principal = current_principal()
    chosen: dict[tuple[str, str], str] = {}
    refused: dict[tuple[str, str], str] = {}
    if request.method == "POST":
        chosen = chosen_mappings(request.form)
        refused = map_chosen(db, principal, chosen)
        if chosen and not refused:
            return redirect(request.full_path)
    args, errors = query_args(UnmatchedQueryArgsSchema(), ignore=("format", "page", "per_page"))
    args.pop("page", None)
    args.pop("per_page", None)
    page = page_number()
    try:
        report = unmatched.unmatched_report(
            db,
            principal,
            **args,
            page=None if wants_xlsx() else page,
            per_page=UNMATCHED_PER_PAGE,
            cache=report_cache.for_app(current_app),
        )
    except ServiceError as error:
        report, errors = None, {**errors, **translated_errors(error)}
    if wants_xlsx() and report is not None:
        return download_table(UNMATCHED_COLUMNS, report["items"], "unmatched-skus.xlsx", "未匹配商品")
    body = render_template(
        "web/imports/unmatched.html",
        report=report,
        page=page,
        per_page=UNMATCHED_PER_PAGE,
        listed=min(report["groups"], unmatched.MAX_GROUPS) if report else 0,
        errors=errors,
        filters=request.args,
        chosen=chosen,
        refused=refused,
        channel_labels=CHANNEL_LABELS,
        reason_labels=SUGGESTION_REASONS,
    )
    return body, 422 if refused else 200


def chosen_mappings(form: Mapping[str, str]) -> dict[tuple[str, str], str]:
    """The rows given a product, by channel and SKU: each row posts map-N-channel, -sku, -product_id."""
    chosen = {}
    for name, product_id in form.items():
        row = name.removeprefix("map-").removesuffix("-product_id")
        if not (name.startswith("map-") and name.endswith("-product_id") and row.isdigit()):
            continue
        channel, sku = form.get(f"map-{row}-channel", ""), form.get(f"map-{row}-sku", "")
        if product_id.strip() and channel and sku:
            chosen[(channel, sku)] = product_id.strip()
    return chosen


def map_chosen(db: Any, principal: Any, chosen: dict[tuple[str, str], str]) -> dict[tuple[str, str], str]:
    """Map every chosen row at once; the refused rows with their reasons (then nothing was saved)."""
    if not chosen:
        fail("请至少为一个 SKU 选择要对应的产品。")
        return {}
    rows, refused = [], {}
    for (channel, sku), product_id in chosen.items():
        data, errors = load_form(
            UnmatchedMapSchema(), {"channel": channel, "sku": sku, "product_id": product_id}
        )
        if errors:
            refused[(channel, sku)] = "请从列表中选择产品。"
        else:
            rows.append(data)
    if not refused:
        try:
            result = unmatched.map_skus(db, principal, rows)
        except unmatched.MappingRefused as error:
            refused = {(row["channel"], row["sku"]): refused_row_text(row) for row in error.details["rows"]}
        else:
            ok(f"已对应 {len(rows)} 个 SKU，重新匹配上 {result['matched']} 条销售。")
            return {}
    names = "、".join(f"{CHANNEL_LABELS.get(channel, channel)} {sku}" for channel, sku in refused)
    fail(f"{len(refused)} 个 SKU 未能对应（{names}），本次全部未保存：请按各行提示修改后再提交。")
    return refused


def refused_row_text(row: Mapping[str, Any]) -> str:
    """A refused row of a batch, in Chinese, by its code."""
    if row["code"] == unmatched.SKU_HELD and row.get("holder_name"):
        return f"该 SKU 已对应到产品「{row['holder_name']}」。"
    return MAPPING_REFUSALS.get(row["code"], "无法对应。")
