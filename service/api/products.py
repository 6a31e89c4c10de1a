"""Poverty-alleviation products (扶贫产品) and their certification (认定)."""

from __future__ import annotations

from flask import request

from schemas.base import page_of
from schemas.products import (
    ProductApproveSchema,
    ProductCreateSchema,
    ProductPatchSchema,
    ProductQueryArgsSchema,
    ProductSchema,
    ProductTransitionSchema,
)
from service import product_listing, products
from service.access import ENTERPRISE, EVERYONE, STAFF, allow
from service.api.openapi import IF_MATCH_OPTIONAL, IF_MATCH_REQUIRED
from service.certification import TRANSITIONS
from service.extensions import Blueprint
from service.http import expected_version, principal, with_etag
from service.storage import get_db

blp = Blueprint(
    "products",
    __name__,
    url_prefix="/api/v1/products",
    description="Poverty-alleviation products and their certification workflow.",
)
ProductPageSchema = page_of(ProductSchema, "ProductPageSchema")


def _roles_of(action: str) -> tuple[str, ...]:
    """The roles the certification table lets take this step."""
    return tuple(sorted(TRANSITIONS[action].roles))


def _transition(product_id, action: str, data: dict):
    """If-Match is optional on a step: when sent, it must name the current version."""
    version = expected_version(product_id) if request.headers.get("If-Match") else None
    product = products.transition(get_db(), principal(), product_id, action, expected_version=version, **data)
    return with_etag(product)


@blp.route("", methods=["GET"])
@blp.arguments(ProductQueryArgsSchema, location="query")
@blp.response(200, ProductPageSchema)
@allow(*EVERYONE)
def list_products(args):
    """Products the caller may see; canteens see certified products only (their product picker)."""
    items, total = product_listing.list_products(get_db(), principal(), **args)
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.route("", methods=["POST"])
@blp.arguments(ProductCreateSchema)
@blp.response(201, ProductSchema)
@allow(*STAFF, ENTERPRISE)
def create_product(data):
    """Register a draft product for an operator (an enterprise for itself, staff on its behalf)."""
    return with_etag(products.create_product(get_db(), principal(), data), 201)


@blp.route("/<objectid:product_id>", methods=["GET"])
@blp.response(200, ProductSchema)
@allow(*EVERYONE)
def get_product(product_id):
    return with_etag(products.get_product(get_db(), principal(), product_id))


@blp.route("/<objectid:product_id>", methods=["PATCH"])
@blp.doc(**IF_MATCH_REQUIRED)
@blp.arguments(ProductPatchSchema)
@blp.response(200, ProductSchema)
@allow(*STAFF, ENTERPRISE)
def update_product(changes, product_id):
    """Edit a product (If-Match required); reviewed fields of a certified product send it back to review."""
    version = expected_version(product_id)
    return with_etag(products.update_product(get_db(), principal(), product_id, version, changes))


@blp.route("/<objectid:product_id>/submit", methods=["POST"])
@blp.doc(**IF_MATCH_OPTIONAL)
@blp.arguments(ProductTransitionSchema, required=False)
@blp.response(200, ProductSchema)
@allow(*_roles_of("submit"))
def submit_product(data, product_id):
    """Apply for certification (from draft, rejected or expired)."""
    return _transition(product_id, "submit", data)


@blp.route("/<objectid:product_id>/approve", methods=["POST"])
@blp.doc(**IF_MATCH_OPTIONAL)
@blp.arguments(ProductApproveSchema, required=False)
@blp.response(200, ProductSchema)
@allow(*_roles_of("approve"))
def approve_product(data, product_id):
    """County approval (县级审定), recording the township's review note if given."""
    return _transition(product_id, "approve", data)


@blp.route("/<objectid:product_id>/reject", methods=["POST"])
@blp.doc(**IF_MATCH_OPTIONAL)
@blp.arguments(ProductTransitionSchema, required=False)
@blp.response(200, ProductSchema)
@allow(*_roles_of("reject"))
def reject_product(data, product_id):
    """Return the product to the applicant for changes (reason required)."""
    return _transition(product_id, "reject", data)


@blp.route("/<objectid:product_id>/publicize", methods=["POST"])
@blp.doc(**IF_MATCH_OPTIONAL)
@blp.arguments(ProductTransitionSchema, required=False)
@blp.response(200, ProductSchema)
@allow(*_roles_of("publicize"))
def publicize_product(data, product_id):
    """Start the publicity period (公示); certification waits for its end."""
    return _transition(product_id, "publicize", data)


@blp.route("/<objectid:product_id>/object", methods=["POST"])
@blp.doc(**IF_MATCH_OPTIONAL)
@blp.arguments(ProductTransitionSchema, required=False)
@blp.response(200, ProductSchema)
@allow(*_roles_of("object"))
def object_to_product(data, product_id):
    """Record an objection (异议) raised during publicity: the product goes back as rejected."""
    return _transition(product_id, "object", data)


@blp.route("/<objectid:product_id>/certify", methods=["POST"])
@blp.doc(**IF_MATCH_OPTIONAL)
@blp.arguments(ProductTransitionSchema, required=False)
@blp.response(200, ProductSchema)
@allow(*_roles_of("certify"))
def certify_product(data, product_id):
    """Certify after publicity has ended: issues a certificate number and a validity period."""
    return _transition(product_id, "certify", data)


@blp.route("/<objectid:product_id>/revoke", methods=["POST"])
@blp.doc(**IF_MATCH_OPTIONAL)
@blp.arguments(ProductTransitionSchema, required=False)
@blp.response(200, ProductSchema)
@allow(*_roles_of("revoke"))
def revoke_product(data, product_id):
    """Revoke a certification (reason required)."""
    return _transition(product_id, "revoke", data)


@blp.route("/<objectid:product_id>/withdraw", methods=["POST"])
@blp.doc(**IF_MATCH_OPTIONAL)
@blp.arguments(ProductTransitionSchema, required=False)
@blp.response(200, ProductSchema)
@allow(*_roles_of("withdraw"))
def withdraw_product(data, product_id):
    """Withdraw an application before the county has approved it: the product is a draft again."""
    return _transition(product_id, "withdraw", data)
