"""A county's place register: townships and villages under their statistical codes, with their names."""

from __future__ import annotations

from werkzeug.routing import BaseConverter

from schemas.base import page_of
from schemas.households import ImportFileSchema, multipart_body
from schemas.places import (
    PlaceImportFormSchema,
    PlaceImportRequestSchema,
    PlaceImportResultSchema,
    PlaceQueryArgsSchema,
    PlaceSchema,
    PlaceSetSchema,
    UnnamedCodeListSchema,
)
from service import places
from service.access import STAFF, allow
from service.extensions import Blueprint
from service.http import principal
from service.storage import get_db

blp = Blueprint(
    "places",
    __name__,
    url_prefix="/api/v1/counties/<county_code>/places",
    description="Townships (乡镇/街道) and villages (村/社区) of a county, by statistical code, with names.",
)
PlacePageSchema = page_of(PlaceSchema, "PlacePageSchema")


class PlaceCodeConverter(BaseConverter):
    """A place's code in a URL, so that `import` and `unnamed` are never taken for one."""

    regex = places.PLACE_CODE_DIGITS


def place_code_param_schema(converter: PlaceCodeConverter) -> dict[str, str]:
    return {"type": "string", "pattern": places.PLACE_CODE.pattern}


@blp.route("", methods=["GET"])
@blp.arguments(PlaceQueryArgsSchema, location="query")
@blp.response(200, PlacePageSchema)
@allow(*STAFF)
def list_places(args, county_code):
    """The county's townships and villages in code order (a township before its villages)."""
    items, total = places.list_places(get_db(), principal(), county_code, **args)
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.route("/unnamed", methods=["GET"])
@blp.response(200, UnnamedCodeListSchema)
@allow(*STAFF)
def unnamed_codes(county_code):
    """Township and village codes the county's households use that have no name yet."""
    return {"items": places.unnamed_codes(get_db(), principal(), county_code)}


@blp.route("/<placecode:code>", methods=["PUT"])
@blp.arguments(PlaceSetSchema)
@blp.response(200, PlaceSchema)
@allow(*STAFF)
def set_place(data, county_code, code):
    """Name a township (9-digit code) or village (12-digit code) of the county; audited."""
    return places.save_place(get_db(), principal(), county_code, code=code, **data)


@blp.route("/import", methods=["POST"])
@blp.arguments(PlaceImportFormSchema, location="form")
@blp.arguments(ImportFileSchema, location="files")
@blp.doc(parameters=[], requestBody=multipart_body(PlaceImportRequestSchema))
@blp.response(200, PlaceImportResultSchema)
@allow(*STAFF)
def import_places(form, files, county_code):
    """The county's part of the national division-code file (multipart: file; optional dry_run).

    Columns 统计用区划代码, 名称 and optionally 城乡分类代码; xlsx, or CSV in UTF-8 or GB18030. Rows of the
    county itself or a larger division are skipped, rows of another county rejected; keyed by code.
    """
    upload = files["file"]
    return places.import_places(
        get_db(), principal(), county_code, upload.stream, upload.filename or "", **form
    )


import_places.accepts_files = True
