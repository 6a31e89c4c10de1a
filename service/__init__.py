"""Consumption-aid catalogue and sales ledger service (消费帮扶产品目录与销售台账)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, send_from_directory

from service import config as config_module

log = logging.getLogger(__name__)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The app factory: defaults, then the environment, then ``config``."""
    app = Flask(__name__, instance_relative_config=False)
    app.config.from_object(config_module.Config)
    app.config.update(config_module.from_env())
    if config:
        app.config.update(config)

    from service import cli, http, import_runs, observability, partitions, storage, web
    from service.api import places as api_places
    from service.api import register_blueprints
    from service.api import statements as api_statements
    from service.extensions import Api

    observability.configure_logging(app.config["LOG_LEVEL"], app.config["LOG_JSON"])
    _trust_proxies(app)
    storage.init_app(app)
    http.init_app(app)
    observability.init_app(app)

    api = Api(app)
    app.url_map.converters["objectid"] = http.ObjectIdConverter
    api.register_converter(http.ObjectIdConverter, http.objectid_param_schema)
    app.url_map.converters["placecode"] = api_places.PlaceCodeConverter
    api.register_converter(api_places.PlaceCodeConverter, api_places.place_code_param_schema)
    for name, converter in api_statements.CONVERTERS.items():
        app.url_map.converters[name] = converter
        api.register_converter(converter, api_statements.param_schema)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    register_blueprints(api)
    app.extensions["api"] = api
    _register_probes(app)
    _register_docs_assets(app)
    web.init_app(app)
    cli.init_app(app)

    with app.app_context():
        db = storage.get_db()
        # Read before the indexes are made: the demo county never goes over data kept in DATA_DIR.
        kept_data = bool(app.extensions["storage"].data_dir and db.list_collection_names())
        storage.ensure_indexes(db, embedded=app.extensions["storage"].embedded)
        # Alone on its database, this process knows every run still "running" lost its process.
        import_runs.mark_interrupted(db, all_running=app.extensions["storage"].embedded)
        if app.extensions["storage"].embedded:
            # ...and every ledger ticket not handed over: its operator-months are recomputed.
            partitions.abandon_tickets(db)
        if not kept_data and _should_load_demo(app):
            from service import demo

            demo.load(db)
    return app


def _trust_proxies(app: Flask) -> None:
    hops = app.config["TRUSTED_PROXIES"]
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Each proxy appends what it saw; only the last ``hops`` entries were written by ours.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def _should_load_demo(app: Flask) -> bool:
    setting = str(app.config["DEMO_ON_START"]).lower()
    if setting == "auto":
        return app.extensions["storage"].embedded and not app.config["TESTING"]
    return setting in {"1", "true", "yes", "on"}


def _register_probes(app: Flask) -> None:
    from service.access import public
    from service.errors import envelope
    from service.storage import get_storage

    @public
    def healthz():
        return jsonify({"status": "ok"})

    @public
    def readyz():
        storage = get_storage()
        try:
            storage.ping()
        except Exception as error:  # any driver failure means "not ready"
            log.warning("readiness check failed: %s", error)
            return envelope(503, "database_unreachable", "The database is not reachable.")
        return jsonify({"status": "ready", "database": "embedded" if storage.embedded else "mongodb"})

    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/readyz", "readyz", readyz)


def _register_docs_assets(app: Flask) -> None:
    """Swagger UI's files, served from the installed package (no CDN on an intranet)."""
    import swagger_ui_bundle

    from service.access import public

    folder = Path(swagger_ui_bundle.swagger_ui_path)

    @public
    def swagger_ui_asset(filename: str):
        return send_from_directory(folder, filename)

    app.add_url_rule("/api/docs/static/<path:filename>", "swagger_ui_asset", swagger_ui_asset)
