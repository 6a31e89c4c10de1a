"""Small factories for test data, built through the service functions."""

from __future__ import annotations

import itertools
from typing import Any

from service import accounts, storage
from service.access import ADMIN, CANTEEN, COUNTY_STAFF, ENTERPRISE, system_principal
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
        document = {
            "name": f"测试食堂{next(_sequence)}",
            "unit_type": "agency",
            "county_code": county_code,
            "plans": [],
            **fields,
        }
        document["_id"] = self.db[storage.CANTEENS].insert_one(document).inserted_id
        return document

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
        elif role != ADMIN:
            raise ValueError(role)
        with self.app.app_context():
            return accounts.create_user(self.db, system_principal("tests"), data), PASSWORD


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
