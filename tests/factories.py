"""Small factories for test data, built through the service functions."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from stdnum.cn import ric

from service import accounts, benefit_links, buying_units, canteen_purchases, households, products, storage
from service.access import ADMIN, CANTEEN, COUNTY_STAFF, ENTERPRISE, UNIT, system_principal
from service.clock import utcnow

PASSWORD = "correct-horse-battery"
_sequence = itertools.count(1)


class Factory:
    def __init__(self, app, db):
        self.app = app
        self.db = db

    def operator(self, county_code: str = "340722", **fields: Any) -> dict[str, Any]:
        document = {
            "name": f"测试合作社{next(_sequence)}",
            "kind": "cooperative",
            "county_code": county_code,
            "status": "active",
            "created_at": utcnow(),
            **fields,
        }
        document["_id"] = self.db[storage.OPERATORS].insert_one(document).inserted_id
        return document

    def canteen(self, county_code: str = "340722", **fields: Any) -> dict[str, Any]:
        """A canteen unit; ``plans`` may be given as [{"year", "food_total_fen"[, "reserve_ratio_bp"]}]."""
        plans = [
            {"reserve_ratio_bp": 1000, "declared_at": datetime(plan["year"], 1, 10, tzinfo=UTC), **plan}
            for plan in fields.pop("plans", [])
        ]
        document = {
            "name": f"测试食堂{next(_sequence)}",
            "unit_type": "agency",
            "county_code": county_code,
            "plans": plans,
            "version": 1,
            **fields,
        }
        document["_id"] = self.db[storage.CANTEENS].insert_one(document).inserted_id
        return document

    def buying_unit(self, county_code: str = "340722", **fields: Any) -> dict[str, Any]:
        """A buying unit registered as staff do (default: an aid unit of Shenzhen's Futian district)."""
        data = {
            "name": f"测试采购单位{next(_sequence)}",
            "kind": "aid_unit",
            "region_code": "440304",
            **fields,
        }
        with self.app.app_context():
            return buying_units.create_unit(
                self.db, system_principal("tests"), {**data, "county_code": county_code}
            )

    def canteen_purchase(self, canteen: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """A purchase made by log_purchase (default: 2024-03-15, 100.00 yuan, an uncatalogued product)."""
        data = {
            "canteen_id": canteen["_id"],
            "date": date(2024, 3, 15),
            "quantity": 10,
            "amount_fen": 10_000,
            "invoice_no": f"INV{next(_sequence):08d}",
            **fields,
        }
        if not any(data.get(name) for name in ("product_id", "sku", "product_name", "refund_of_invoice_no")):
            data.setdefault("operator_uscc", "91110108551385082Q")
            data["product_name"] = "目录外蔬菜"
        with self.app.app_context():
            return canteen_purchases.log_purchase(self.db, system_principal("tests"), data)

    def product(
        self,
        operator_id: Any = None,
        *,
        county_code: str = "340722",
        status: str = "draft",
        certified_at: Any = None,
        valid_days: int = 730,
        **fields: Any,
    ) -> dict[str, Any]:
        """A product made by create_product, then put straight into ``status`` (no workflow)."""
        data = {
            "operator_id": operator_id or self.operator(county_code)["_id"],
            "name": f"测试产品{next(_sequence)}",
            "category": "tea",
            "unit": "盒",
            "price_fen": 5800,
            "benefit_rate_bp": 1000,
            **fields,
        }
        with self.app.app_context():
            document = products.create_product(self.db, system_principal("tests"), data)
        state: dict[str, Any] = {"status": status}
        if status == "publicizing":
            state["publicity_ends_at"] = utcnow() + timedelta(days=7)
        if status in ("certified", "revoked"):
            start = certified_at or utcnow()
            certificate = {
                "number": f"FPTEST{next(_sequence):08d}",
                "certified_at": start,
                "valid_until": start + timedelta(days=valid_days),
                "ended_at": None if status == "certified" else utcnow(),
                "end_reason": None if status == "certified" else "revoked",
            }
            state.update(
                certificate_no=certificate["number"],
                certified_at=start,
                valid_until=certificate["valid_until"],
                certificates=[certificate],
                certificate_numbers=[certificate["number"]],
            )
        if status != "draft":
            self.db[storage.PRODUCTS].update_one({"_id": document["_id"]}, {"$set": state})
        return self.db[storage.PRODUCTS].find_one({"_id": document["_id"]})

    def certified_since(self, product: dict[str, Any], since: Any, benefit_rate_bp: int) -> dict[str, Any]:
        """Backdate a product's rate history to ``since`` (create_product starts it today), for past sales."""
        history = [{"benefit_rate_bp": benefit_rate_bp, "valid_from": since}]
        self.db[storage.PRODUCTS].update_one(
            {"_id": product["_id"]}, {"$set": {"benefit_rate_history": history}}
        )
        return self.db[storage.PRODUCTS].find_one({"_id": product["_id"]})

    def household(self, county_code: str = "340722", **fields: Any) -> dict[str, Any]:
        """A household made by create_household; returns the stored document (hash included)."""
        number = next(_sequence)
        data = {
            "household_no": f"{county_code}{number:010d}",
            "village_code": f"{county_code}100200",
            "head_name": f"户主{number}",
            "id_number": valid_id_number(number),
            "members": 3,
            "status": "poor",
            **fields,
        }
        with self.app.app_context():
            created = households.create_household(self.db, system_principal("tests"), data)
        return self.db[storage.HOUSEHOLDS].find_one({"_id": created["_id"]})

    def benefit_link(
        self, operator: dict[str, Any], household: dict[str, Any], **fields: Any
    ) -> dict[str, Any]:
        """A link made by create_link (default: purchase, weight 1, open-ended from 2020-01-01)."""
        data = {
            "operator_id": operator["_id"],
            "household_id": household["_id"],
            "mechanism": "purchase",
            "weight": 1,
            "valid_from": date(2020, 1, 1),
            "valid_to": None,
            **fields,
        }
        with self.app.app_context():
            created = benefit_links.create_link(self.db, system_principal("tests"), data)
        return self.db[storage.BENEFIT_LINKS].find_one({"_id": created["_id"]})

    def user(self, role: str, **binding: Any) -> tuple[dict[str, Any], str]:
        data: dict[str, Any] = {"username": f"{role}-{next(_sequence)}", "role": role, "password": PASSWORD}
        if role == COUNTY_STAFF:
            data["county_codes"] = binding.get("county_codes", ["340722"])
        elif role == ENTERPRISE:
            data["operator_id"] = (
                binding.get("operator_id") or self.operator(binding.get("county_code", "340722"))["_id"]
            )
        elif role == CANTEEN:
            data["canteen_id"] = (
                binding.get("canteen_id") or self.canteen(binding.get("county_code", "340722"))["_id"]
            )
        elif role == UNIT:
            data["unit_id"] = binding["unit_id"]
        elif role != ADMIN:
            raise ValueError(role)
        with self.app.app_context():
            return accounts.create_user(self.db, system_principal("tests"), data), PASSWORD


def valid_id_number(seed: int) -> str:
    """A valid 居民身份证号 (address 360426, a birth date and order code from ``seed``)."""
    birth = date(1950, 1, 1) + timedelta(days=seed % 20000)
    body = f"360426{birth:%Y%m%d}{seed % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


class ApiCaller:
    """A test client that sends its bearer token with every call."""

    def __init__(self, client):
        self.client = client
        self.token: str | None = None
        self.user: dict[str, Any] | None = None

    def login(self, username: str, password: str) -> None:
        response = self.client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.json
        self.token = response.json["token"]

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        merged = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        merged.update(headers or {})
        return merged

    def get(self, url: str, **kwargs: Any):
        return self.client.get(url, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def post(self, url: str, **kwargs: Any):
        return self.client.post(url, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def patch(self, url: str, **kwargs: Any):
        return self.client.patch(url, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def put(self, url: str, **kwargs: Any):
        return self.client.put(url, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def delete(self, url: str, **kwargs: Any):
        return self.client.delete(url, headers=self._headers(kwargs.pop("headers", None)), **kwargs)


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class PageBrowser:
    """A test client for the pages: logs in through the login form and sends the CSRF token."""

    def __init__(self, client):
        self.client = client
        self.csrf_token: str | None = None
        self.user: dict[str, Any] | None = None

    def _remember_token(self, response) -> None:
        if response.mimetype == "text/html":
            found = _CSRF.search(response.get_data(as_text=True))
            if found:
                self.csrf_token = found.group(1)

    def login(self, username: str, password: str):
        self.get("/login")
        response = self.client.post(
            "/login", data={"username": username, "password": password, "csrf_token": self.csrf_token}
        )
        assert response.status_code == 302, response.get_data(as_text=True)[-500:]
        # The session starts afresh at login, so the next page carries a new CSRF token.
        self.get(response.headers["Location"])
        return response

    def get(self, url: str, **kwargs: Any):
        response = self.client.get(url, **kwargs)
        self._remember_token(response)
        return response

    def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any):
        """A form post with the session's CSRF token (read from the last page if not known yet)."""
        if self.csrf_token is None:
            self.get("/login")
        form = {"csrf_token": self.csrf_token, **(data or {})}
        response = self.client.post(url, data=form, **kwargs)
        self._remember_token(response)
        return response

    def text(self, url: str, status: int = 200) -> str:
        response = self.get(url)
        assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[-800:])
        return response.get_data(as_text=True)
