"""Concurrent writes through the API lose nothing (the embedded emulator serialises access)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from service import auth, storage


def test_concurrent_account_creation_loses_nothing(app, login, db):
    admin = login("admin")
    before = db["audit_log"].count_documents({})

    def create(index: int) -> int:
        caller_client = app.test_client()
        response = caller_client.post(
            "/api/v1/users",
            json={
                "username": f"clerk-{index:03d}",
                "password": "long-enough-pass",
                "role": "county_staff",
                "county_codes": ["340722"],
            },
            headers={"Authorization": f"Bearer {admin.token}"},
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(create, range(120)))
    assert statuses == [201] * 120
    assert db["users"].count_documents({"username": {"$regex": "^clerk-"}}) == 120
    assert db["audit_log"].count_documents({}) - before == 120


def test_concurrent_duplicate_usernames_create_exactly_one(app, login, db):
    admin = login("admin")

    def create(_: int) -> int:
        return (
            app.test_client()
            .post(
                "/api/v1/users",
                json={"username": "same-name", "password": "long-enough-pass", "role": "admin"},
                headers={"Authorization": f"Bearer {admin.token}"},
            )
            .status_code
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(create, range(40)))
    assert statuses == [201] + [409] * 39
    assert db["users"].count_documents({"username": "same-name"}) == 1


def test_concurrent_failed_logins_are_all_counted(app, factory, db):
    user, _ = factory.user("admin")

    def fail(index: int) -> int:
        return (
            app.test_client()
            .post(
                "/api/v1/auth/login",
                json={"username": user["username"], "password": "bad"},
                environ_base={"REMOTE_ADDR": f"10.1.{index}.1"},
            )
            .status_code
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(fail, range(4)))
    assert statuses == [401] * 4
    key = auth._digest(f"account:{user['username'].lower()}")
    assert db[storage.LOGIN_FAILURES].find_one({"_id": key})["count"] == 4
