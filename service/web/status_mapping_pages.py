"""County staff map the order statuses an import set aside (订单状态映射), and remove mappings.

The page lists the unknown statuses the county's recent import runs set aside, each with a form
to say what it means, and the county's mappings with a button to remove each. The rules (who may,
which statuses, which outcomes) live in ``service.status_mappings``, shared with the API.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for

from schemas.status_mappings import StatusMappingSetSchema
from service import status_mappings
from service.access import STAFF, allow
from service.errors import NotFound, ServiceError, ValidationFailed
from service.storage import get_db
from service.web.core import PageBlueprint, current_principal, fail, form_values, load_form, ok
from service.web.formatting import label
from service.web.messages import refusal, say

bp = PageBlueprint("status_mapping_pages", __name__, url_prefix="/status-mappings")

OUTCOME_LABELS = {
    "sale": "计为销售",
    "pending": "暂不计入（待付款等，重新导入时再计）",
    "zeroed": "计为退款（金额为0）",
    "skipped": "不计入",
}
# Pages translate by the error's code, never by its English text.
ERROR_MESSAGES = {
    status_mappings.StatusMappingNotFound.code: "本县没有这条状态映射（可能已被他人删除）。",
}
FIELD_LABELS = {"channel": "渠道", "status": "状态", "outcome": "计法", "county_code": "县代码"}


def chosen_county() -> str | None:
    """The county shown: the one asked for, else the staff member's only county."""
    asked = (request.values.get("county_code") or "").strip()
    if asked:
        return asked
    counties = current_principal().county_codes
    return counties[0] if len(counties) == 1 else None


@bp.app_template_global()
def unknown_statuses(run: dict[str, Any]) -> list[str]:
    """The statuses an import run set aside as unknown, as written (for its page's link here)."""
    found = (
        status_mappings.read_unknown_status(str(item.get("reason") or ""))
        for item in run.get("skipped_reasons") or []
    )
    return [status for _header, status in filter(None, found)]


@bp.route("/", endpoint="mappings")
@allow(*STAFF)
def mapping_list():
    county_code = chosen_county()
    listing = None
    if county_code is not None:
        listing = status_mappings.list_mappings(get_db(), current_principal(), county_code)
    return render_template(
        "web/status_mappings/mappings.html",
        county_code=county_code,
        counties=current_principal().county_codes,
        listing=listing,
        channels=status_mappings.mappable_channels(),
        outcome_labels=OUTCOME_LABELS,
    )


@bp.route("/", methods=["POST"])
@allow(*STAFF)
def set_mapping():
    county_code = chosen_county() or ""
    back = url_for(".mappings", county_code=county_code)
    data, errors = load_form(StatusMappingSetSchema(), form_values(("channel", "status", "outcome")))
    if errors:
        fail(joined(errors))
        return redirect(back)
    try:
        mapping = status_mappings.set_mapping(get_db(), current_principal(), county_code, **data)
    except status_mappings.StatusAlreadyKnown:
        known = status_mappings.built_in_outcome(data["channel"], data["status"])
        fail(
            f"{label(data['channel'], 'channel')}的导入程序已识别状态“{data['status']}”"
            f"（{OUTCOME_LABELS[known.value] if known else '已有计法'}），不能再映射。"
        )
        return redirect(back)
    except ValidationFailed as error:
        fail(error_message(error))
        return redirect(back)
    ok(
        f"已将{label(mapping['channel'], 'channel')}的状态“{mapping['status']}”设为"
        f"{OUTCOME_LABELS[mapping['outcome']]}。重新导入含这些行的文件后生效。"
    )
    return redirect(back)


@bp.route("/<objectid:mapping_id>/delete", methods=["POST"])
@allow(*STAFF)
def delete_mapping(mapping_id):
    county_code = chosen_county() or ""
    try:
        removed = status_mappings.delete_mapping(get_db(), current_principal(), county_code, mapping_id)
    except NotFound as error:
        fail(error_message(error))
    else:
        channel = label(removed["channel"], "channel")
        ok(f"已删除{channel}状态“{removed['status']}”的映射：以后导入时这些行将被跳过。")
    return redirect(url_for(".mappings", county_code=county_code))


def joined(errors: dict[str, Any]) -> str:
    """Errors by field (already in Chinese) as one line, each led by its field's name."""
    return "；".join(
        f"{FIELD_LABELS.get(name, name)}：{message}" if name != "_form" else message
        for name, messages in errors.items()
        for message in (messages if isinstance(messages, list) else [messages])
    )


def error_message(error: ServiceError) -> str:
    if error.code in ERROR_MESSAGES:
        return ERROR_MESSAGES[error.code]
    details = {
        name: [say(item) for item in (value if isinstance(value, list) else [value])]
        for name, value in error.details.items()
    }
    return joined(details) if details else refusal(error)
