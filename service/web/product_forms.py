"""The product form: an enterprise registers and edits its own products, county staff those of an operator.

Village collectives and family farms often have no computer, so county staff fill in the same form
on their behalf: choosing the operator when registering, and seeing it when editing. Both call the
service functions the API's product routes call, which decide who may register for which operator
and who may start a benefit rate in the past.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bson import ObjectId
from flask import redirect, render_template, request, url_for

from adapters import tabular
from schemas.products import ProductCreateSchema, ProductPatchSchema
from service import certification, operators, products
from service.errors import ServiceError
from service.storage import get_db
from service.web.core import (
    current_principal,
    fail,
    form_status,
    form_values,
    load_form,
    merge_errors,
    missing_required,
    ok,
    service_error_fields,
    submitted_version,
)
from service.web.formatting import label, percent_bp, yuan_input

# API field names; money is typed in yuan and the benefit rate in percent.
PRODUCT_FIELDS = (
    "name",
    "category",
    "spec",
    "unit",
    "price_fen",
    "benefit_rate_bp",
    "benefit_rate_valid_from",
    "origin_county_code",
    "brand",
    "barcode",
    "annual_output",
    "annual_output_unit",
    "annual_value_fen",
)
PRODUCT_REQUIRED = tuple(name for name, field in ProductCreateSchema().fields.items() if field.required)
# Staff registering on an operator's behalf name the operator (an enterprise's is its own).
ON_BEHALF_FIELDS = (*PRODUCT_FIELDS, "operator_id")
ON_BEHALF_REQUIRED = (*PRODUCT_REQUIRED, "operator_id")
# Fields an emptied box clears (None), rather than leaves unchanged as an absent API field would.
PRODUCT_NULLABLE = tuple(name for name, field in ProductPatchSchema().fields.items() if field.allow_none)
# After conversion only a range check can fail, and its message would be in fen or basis points.
PRODUCT_RANGE_MESSAGES = {
    "price_fen": "价格至少为 0.01 元。",
    "annual_value_fen": "不能为负数。",
    "benefit_rate_bp": "带贫比例应在 0 到 100% 之间。",
    "annual_output": "不能为负数。",
}
# What a product form box holds: how its text becomes the API value, and the message if it cannot.
PRODUCT_CONVERSIONS: dict[str, tuple[Callable[[str], int], str]] = {
    "price_fen": (tabular.parse_yuan_to_fen, "请填写金额（元），最多两位小数，如 58 或 12.50。"),
    "annual_value_fen": (tabular.parse_yuan_to_fen, "请填写金额（元），最多两位小数。"),
    "benefit_rate_bp": (tabular.parse_percent_to_bp, "请填写百分比，最多两位小数，如 15 或 12.50。"),
    "annual_output": (tabular.parse_whole_number, "请填写整数。"),
}
# The reviewed fields (certification.REVIEWED_FIELDS) this form can change, for the warning on edit.
REVIEWED_FIELD_LABELS = {
    "name": "产品名称",
    "category": "品类",
    "benefit_rate_bp": "带贫比例",
    "channel_skus": "渠道商品编码",
}
SKU_CHANNEL, SKU_CODE = "channel_skus-channel", "channel_skus-sku"
BLANK_SKU_ROWS = 2


def product_url(product_id: ObjectId) -> str:
    return url_for("product_pages.product", product_id=product_id)


def category_options() -> list[tuple[str, str]]:
    return [(code, label(code, "category")) for code in products.CATEGORIES]


def product_form_values(product: Mapping[str, Any]) -> dict[str, Any]:
    """A stored product as the form shows it: yuan and percent, never fen or basis points."""
    values = {name: product.get(name) for name in PRODUCT_FIELDS}
    values["price_fen"] = yuan_input(product.get("price_fen"))
    values["annual_value_fen"] = yuan_input(product.get("annual_value_fen"))
    values["benefit_rate_bp"] = percent_bp(product.get("benefit_rate_bp"), blank="").removesuffix("%")
    values["benefit_rate_valid_from"] = None
    return values


def submitted_skus() -> list[dict[str, str]]:
    """The channel SKU rows of the form, kept in pairs (a half-filled row is the schema's error)."""
    rows = []
    for channel, sku in zip(request.form.getlist(SKU_CHANNEL), request.form.getlist(SKU_CODE), strict=False):
        row = {name: value.strip() for name, value in (("channel", channel), ("sku", sku)) if value.strip()}
        if row:
            rows.append(row)
    return rows


def submitted_product(
    schema, fields: tuple[str, ...] = PRODUCT_FIELDS, required: tuple[str, ...] = PRODUCT_REQUIRED
) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """The form as the API's create or patch body, or the errors to show next to the fields."""
    values = form_values(fields)
    errors = missing_required(values, required)
    for name, (parse, message) in PRODUCT_CONVERSIONS.items():
        if name in values:
            try:
                values[name] = parse(values[name])
            except ValueError:
                errors[name] = [message]
                del values[name]
    for name in PRODUCT_NULLABLE:
        values.setdefault(name, None)
    values["channel_skus"] = submitted_skus()
    data, schema_errors = load_form(schema, values)
    for name, message in PRODUCT_RANGE_MESSAGES.items():
        if name in schema_errors and isinstance(values.get(name), int):
            schema_errors[name] = [message]
    errors = merge_errors(errors, schema_errors)
    return (None if errors else data), errors


def redisplayed_product(fields: tuple[str, ...] = PRODUCT_FIELDS) -> dict[str, Any]:
    return {name: request.form.get(name, "") for name in fields}


def save_product(
    save: Callable[[dict[str, Any]], dict[str, Any]],
    schema,
    fields: tuple[str, ...] = PRODUCT_FIELDS,
    required: tuple[str, ...] = PRODUCT_REQUIRED,
) -> tuple[Any, dict]:
    """Validate and save the form; then submit it for certification if asked. (response, errors)."""
    data, errors = submitted_product(schema, fields, required)
    if errors:
        return None, errors
    try:
        product = save(data)
    except ServiceError as error:
        if error.status in (403, 404):
            raise  # an operator or product outside the caller's scope: the error page, as for a read
        return None, service_error_fields(error)
    if request.form.get("then_submit") != "1":
        ok("产品已保存。")
        return redirect(product_url(product["_id"])), {}
    try:
        products.transition(
            get_db(), current_principal(), product["_id"], "submit", expected_version=product["version"]
        )
    except ServiceError as error:
        fail(f"产品已保存，但未能提交认定：{service_error_fields(error)['_form'][0]}")
    else:
        ok("产品已保存并提交认定，请等待县级审核。")
    return redirect(product_url(product["_id"])), {}


def render_product_form(
    product: Mapping[str, Any] | None,
    values,
    skus,
    version,
    errors: dict,
    *,
    operator_options: list[tuple[str, str]] | None = None,
    operator: Mapping[str, Any] | None = None,
):
    """The form, posting back to the view that shows it.

    Staff filling it in for an operator choose the operator (``operator_options``) on a new
    product and see it (``operator``) on an edit; they may start a benefit rate in the past.
    """
    status = product["status"] if product else certification.DRAFT
    rows = list(skus) + [{}] * BLANK_SKU_ROWS
    return render_template(
        "web/product_form.html",
        product=product,
        values=values,
        sku_rows=rows,
        version=version,
        errors=errors,
        action=url_for(request.endpoint, **(request.view_args or {})),
        operator_options=operator_options,
        operator=operator,
        on_behalf=operator_options is not None or operator is not None,
        editable=status in certification.EDITABLE_STATUSES,
        may_submit=status in certification.TRANSITIONS["submit"].sources,
        certified=status == certification.CERTIFIED,
        reviewed_fields="、".join(
            REVIEWED_FIELD_LABELS[name]
            for name in certification.REVIEWED_FIELDS
            if name in REVIEWED_FIELD_LABELS
        ),
        category_options=category_options(),
        channel_options=[(code, label(code, "channel")) for code in products.CHANNELS],
        product_url=product_url,
    ), (form_status(errors) if errors else 200)


def new_product(operator_options: list[tuple[str, str]] | None = None):
    """GET the empty form, POST a draft product.

    Staff registering on an operator's behalf pass the operators they may choose from
    (``?operator_id=`` preselects one); an enterprise registers for itself.
    """
    on_behalf = operator_options is not None
    fields = ON_BEHALF_FIELDS if on_behalf else PRODUCT_FIELDS
    required = ON_BEHALF_REQUIRED if on_behalf else PRODUCT_REQUIRED
    if request.method == "GET":
        chosen = {"operator_id": request.args.get("operator_id")} if on_behalf else {}
        return render_product_form(None, chosen, [], None, {}, operator_options=operator_options)
    db, principal = get_db(), current_principal()
    response, errors = save_product(
        lambda data: products.create_product(db, principal, data), ProductCreateSchema(), fields, required
    )
    return response or render_product_form(
        None, redisplayed_product(fields), submitted_skus(), None, errors, operator_options=operator_options
    )


def edit_product(product_id: ObjectId, on_behalf: bool = False):
    """GET the product in the form, POST its changes with the version the form was read at.

    Staff editing on an operator's behalf see which operator the product belongs to.
    """
    db, principal = get_db(), current_principal()
    product = products.get_product(db, principal, product_id)
    operator = operators.get_operator(db, principal, product["operator_id"]) if on_behalf else None
    if request.method == "GET":
        values = product_form_values(product)
        return render_product_form(
            product, values, product["channel_skus"], product["version"], {}, operator=operator
        )
    version = submitted_version()
    response, errors = save_product(
        lambda data: products.update_product(db, principal, product_id, version, data),
        ProductPatchSchema(),
    )
    return response or render_product_form(
        product, redisplayed_product(), submitted_skus(), version, errors, operator=operator
    )
