"""The household register (建档立卡贫困户): access by role, ID numbers kept out of sight, bulk import."""

from __future__ import annotations

import io
import logging
from datetime import date
from pathlib import Path

import pytest

from service import benefit_links, household_register, storage
from service.access import system_principal
from tests.factories import valid_id_number

FIXTURES = Path(__file__).parent / "fixtures" / "households"
ID_NUMBER = "360426199101010071"
OTHER_ID_NUMBER = "120103198806018241"
HEADER = "户编号,村代码,户主姓名,身份证号,家庭人口数,户类型,脱贫年度\n"


def _new(**fields):
    return {
        "household_no": "3407221001",
        "village_code": "340722100201",
        "head_name": "张三",
        "id_number": ID_NUMBER,
        "members": 3,
        "status": "exited",
        "exit_year": 2019,
        **fields,
    }


def _upload(caller, data: bytes, filename: str = "households.csv", url="/api/v1/households/import", **form):
    return caller.post(
        url,
        data={"file": (io.BytesIO(data), filename), **{k: str(v).lower() for k, v in form.items()}},
        content_type="multipart/form-data",
    )


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _error_keys(result) -> set[tuple[int, str]]:
    return {(error["row"], error["field"]) for error in result["errors"]}


# Registering -------------------------------------------------------------------------------------


def test_staff_register_a_household_and_see_only_the_masked_id_number(login, db):
    staff = login("county_staff", county_codes=["340722"])
    response = staff.post("/api/v1/households", json=_new())
    assert response.status_code == 201, response.json
    body = response.json
    assert body["id_number_masked"] == "360426********0071"
    assert "id_number" not in body and "id_number_hash" not in body
    assert body["county_code"] == "340722" and body["township_code"] == "340722100"
    assert response.headers["ETag"] == f'"{body["id"]}-1"'
    stored = db[storage.HOUSEHOLDS].find_one({"household_no": "3407221001"})
    assert ID_NUMBER not in str(stored)
    assert len(stored["id_number_hash"]) == 64


def test_an_invalid_id_number_is_refused_without_repeating_it(login):
    response = login("admin").post("/api/v1/households", json=_new(id_number="360426199101010072"))
    assert response.status_code == 422
    assert "check character" in response.json["error"]["details"]["id_number"][0]
    assert "36042619910101007" not in response.get_data(as_text=True)


def test_an_id_number_with_an_impossible_birth_date_is_refused(login):
    response = login("admin").post("/api/v1/households", json=_new(id_number="360426199102310025"))
    assert response.status_code == 422
    assert "not a real date" in response.json["error"]["details"]["id_number"][0]


def test_the_village_must_lie_in_the_given_county(login):
    response = login("admin").post("/api/v1/households", json=_new(county_code="341822"))
    assert response.status_code == 422
    assert "village_code" in response.json["error"]["details"]


@pytest.mark.parametrize(
    ("status", "exit_year", "accepted"),
    [
        ("exited", None, False),
        ("exited", 2019, True),
        ("poor", 2019, False),
        ("poor", None, True),
        ("edge", 2019, False),
        ("monitored", 2020, True),
        ("monitored", None, True),
        ("exited", 2013, False),
    ],
)
def test_the_exit_year_goes_with_the_status(login, status, exit_year, accepted):
    response = login("admin").post("/api/v1/households", json=_new(status=status, exit_year=exit_year))
    assert (response.status_code == 201) is accepted, response.json


def test_the_same_person_cannot_head_two_households(login):
    staff = login("county_staff", county_codes=["340722"])
    assert staff.post("/api/v1/households", json=_new()).status_code == 201
    response = staff.post("/api/v1/households", json=_new(household_no="3407221002"))
    assert response.status_code == 409
    assert "3407221001" in response.json["error"]["message"]
    assert "id_number" in response.json["error"]["details"]


def test_a_duplicate_head_in_another_county_is_not_named(login, factory):
    factory.household("341822", id_number=ID_NUMBER, household_no="3418229999")
    staff = login("county_staff", county_codes=["340722"])
    response = staff.post("/api/v1/households", json=_new())
    assert response.status_code == 409
    assert "3418229999" not in response.get_data(as_text=True)


def test_a_household_number_is_registered_once(login):
    admin = login("admin")
    assert admin.post("/api/v1/households", json=_new()).status_code == 201
    response = admin.post("/api/v1/households", json=_new(id_number=OTHER_ID_NUMBER))
    assert response.status_code == 409
    assert response.json["error"]["details"] == {"household_no": ["Already registered."]}


def test_county_staff_cannot_register_in_another_county(login):
    staff = login("county_staff", county_codes=["341822"])
    assert staff.post("/api/v1/households", json=_new()).status_code == 403


@pytest.mark.parametrize("role", ["enterprise", "canteen"])
def test_only_staff_register_households(login, role):
    assert login(role).post("/api/v1/households", json=_new()).status_code == 403


# Reading, by role ----------------------------------------------------------------------------------


def test_county_staff_list_only_their_counties(login, factory):
    mine = factory.household("340722")
    theirs = factory.household("341822")
    staff = login("county_staff", county_codes=["340722"])
    listed = staff.get("/api/v1/households").json
    assert [item["household_no"] for item in listed["items"]] == [mine["household_no"]]
    assert listed["total"] == 1
    assert staff.get(f"/api/v1/households/{theirs['_id']}").status_code == 403
    assert staff.get("/api/v1/households?county_code=341822").status_code == 403


def test_the_list_filters_and_pages(login, factory):
    factory.household(village_code="340722100201", status="poor", head_name="张三")
    factory.household(village_code="340722100202", status="poor", head_name="李四")
    factory.household(village_code="340722101201", status="exited", exit_year=2019, head_name="张小明")
    admin = login("admin")

    def numbers(query):
        return admin.get(f"/api/v1/households?{query}").json["total"]

    assert numbers("township_code=340722100") == 2
    assert numbers("village_code=340722101201") == 1
    assert numbers("status=poor") == 2
    assert numbers("q=张") == 2
    assert numbers("q=340722") == 3
    page = admin.get("/api/v1/households?per_page=2&page=2").json
    assert len(page["items"]) == 1 and page["total"] == 3


def test_a_search_is_text_not_a_pattern(login, factory):
    factory.household(head_name="张三")
    assert login("admin").get("/api/v1/households?q=.*").json["total"] == 0


def test_an_enterprise_sees_only_linked_households_with_masked_names(login, factory, db, app):
    operator = factory.operator("340722")
    linked = factory.household(head_name="欧阳修文")
    ended = factory.household(head_name="张三")
    unlinked = factory.household(head_name="李四")
    factory.benefit_link(operator, linked)
    link = factory.benefit_link(operator, ended)
    with app.app_context():
        benefit_links.end_link(db, system_principal(), link["_id"], date(2020, 1, 31), "合同到期")
    enterprise = login("enterprise", operator_id=operator["_id"])

    listed = enterprise.get("/api/v1/households").json
    assert sorted(item["head_name"] for item in listed["items"]) == ["张*", "欧***"]
    assert all("id_number_masked" not in item for item in listed["items"])
    one = enterprise.get(f"/api/v1/households/{linked['_id']}")
    assert one.status_code == 200 and one.json["head_name"] == "欧***"
    assert "0071" not in one.get_data(as_text=True) and "id_number" not in one.json
    assert enterprise.get(f"/api/v1/households/{unlinked['_id']}").status_code == 403


def test_an_enterprise_cannot_search_by_name(login, factory):
    operator = factory.operator("340722")
    factory.benefit_link(operator, factory.household(head_name="欧阳修文"))
    enterprise = login("enterprise", operator_id=operator["_id"])
    assert enterprise.get("/api/v1/households?q=欧阳").json["total"] == 0


def test_an_enterprise_of_another_operator_sees_nothing(login, factory):
    factory.benefit_link(factory.operator("340722"), factory.household())
    assert login("enterprise").get("/api/v1/households").json["total"] == 0


@pytest.mark.parametrize(
    ("method", "url"),
    [("get", "/api/v1/households"), ("post", "/api/v1/households/lookup")],
)
def test_canteens_are_refused(login, method, url):
    response = getattr(login("canteen"), method)(url, json={"id_number": ID_NUMBER})
    assert response.status_code == 403


def test_canteens_cannot_read_one_household(login, factory):
    household = factory.household()
    assert login("canteen").get(f"/api/v1/households/{household['_id']}").status_code == 403


# Look-up by ID number --------------------------------------------------------------------------------


def test_staff_look_up_a_household_by_id_number(login, factory):
    household = factory.household(id_number=ID_NUMBER)
    response = login("county_staff").post("/api/v1/households/lookup", json={"id_number": ID_NUMBER})
    assert response.status_code == 200
    assert response.json["id"] == str(household["_id"])


def test_look_up_of_an_unregistered_person_is_404(login):
    response = login("admin").post("/api/v1/households/lookup", json={"id_number": ID_NUMBER})
    assert response.status_code == 404


def test_look_up_of_an_invalid_number_is_422(login):
    response = login("admin").post("/api/v1/households/lookup", json={"id_number": "123"})
    assert response.status_code == 422


def test_look_up_of_a_head_in_another_county_is_refused(login, factory):
    factory.household("341822", id_number=ID_NUMBER)
    staff = login("county_staff", county_codes=["340722"])
    assert staff.post("/api/v1/households/lookup", json={"id_number": ID_NUMBER}).status_code == 403


def test_enterprises_cannot_look_up_id_numbers(login):
    assert (
        login("enterprise").post("/api/v1/households/lookup", json={"id_number": ID_NUMBER}).status_code
        == 403
    )


# Changing ------------------------------------------------------------------------------------------


def test_a_change_needs_if_match(login, factory):
    household = factory.household()
    staff = login("county_staff")
    url = f"/api/v1/households/{household['_id']}"
    assert staff.patch(url, json={"members": 4}).status_code == 428
    stale = staff.patch(url, json={"members": 4}, headers={"If-Match": f'"{household["_id"]}-7"'})
    assert stale.status_code == 412


def test_a_change_is_versioned_and_audited(login, factory):
    household = factory.household(members=3)
    staff = login("county_staff")
    url = f"/api/v1/households/{household['_id']}"
    etag = staff.get(url).headers["ETag"]
    response = staff.patch(
        url, json={"members": 4, "status": "exited", "exit_year": 2020}, headers={"If-Match": etag}
    )
    assert response.status_code == 200, response.json
    assert response.json["members"] == 4 and response.json["version"] == 2
    assert response.headers["ETag"] != etag
    entries = staff.get(f"/api/v1/audit?entity_id={household['_id']}").json["items"]
    update = next(entry for entry in entries if entry["action"] == "household.update")
    assert (update["before"]["members"], update["after"]["members"]) == (3, 4)
    assert "id_number_hash" not in str(update)


def test_a_new_head_is_checked_against_other_households(login, factory):
    factory.household(id_number=OTHER_ID_NUMBER)
    household = factory.household(id_number=ID_NUMBER)
    staff = login("county_staff")
    url = f"/api/v1/households/{household['_id']}"
    response = staff.patch(
        url, json={"id_number": OTHER_ID_NUMBER}, headers={"If-Match": f'"{household["_id"]}-1"'}
    )
    assert response.status_code == 409


def test_changing_the_head_replaces_the_masked_number(login, factory):
    household = factory.household(id_number=ID_NUMBER)
    staff = login("county_staff")
    url = f"/api/v1/households/{household['_id']}"
    response = staff.patch(
        url,
        json={"id_number": OTHER_ID_NUMBER, "head_name": "李四"},
        headers={"If-Match": f'"{household["_id"]}-1"'},
    )
    assert response.json["id_number_masked"] == "120103********8241"
    assert (
        staff.post("/api/v1/households/lookup", json={"id_number": OTHER_ID_NUMBER}).json["head_name"]
        == "李四"
    )
    assert staff.post("/api/v1/households/lookup", json={"id_number": ID_NUMBER}).status_code == 404


def test_returning_to_poverty_clears_the_exit_year_explicitly(login, factory):
    household = factory.household(status="exited", exit_year=2019)
    staff = login("county_staff")
    url = f"/api/v1/households/{household['_id']}"
    headers = {"If-Match": f'"{household["_id"]}-1"'}
    assert staff.patch(url, json={"status": "poor"}, headers=headers).status_code == 422
    response = staff.patch(url, json={"status": "poor", "exit_year": None}, headers=headers)
    assert response.status_code == 200 and response.json["exit_year"] is None


def test_staff_cannot_move_a_household_into_a_county_not_theirs(login, factory):
    household = factory.household("340722")
    staff = login("county_staff", county_codes=["340722"])
    response = staff.patch(
        f"/api/v1/households/{household['_id']}",
        json={"village_code": "341822100201"},
        headers={"If-Match": f'"{household["_id"]}-1"'},
    )
    assert response.status_code == 403


# Bulk import ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("filename", ["households_gb18030.csv", "households_utf8_bom.csv", "households.xlsx"])
def test_the_counties_spreadsheet_imports_in_every_encoding(login, db, filename):
    staff = login("county_staff", county_codes=["340722"])
    response = _upload(staff, _fixture(filename), filename)
    assert response.status_code == 200, response.json
    assert response.json == {
        "rows": 4,
        "inserted": 4,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "dry_run": False,
        "errors": [],
        "errors_truncated": False,
    }
    stored = {h["household_no"]: h for h in db[storage.HOUSEHOLDS].find()}
    assert stored["3407221001"]["head_name"] == "张三"
    assert stored["3407221001"]["status"] == "exited" and stored["3407221001"]["exit_year"] == 2019
    assert stored["3407221001"]["members"] == 3
    assert stored["3407221002"]["head_name"] == "欧阳修文" and stored["3407221002"]["exit_year"] is None
    assert (
        stored["3407221003"]["status"] == "monitored" and stored["3407221003"]["township_code"] == "340722101"
    )
    assert stored["3407221004"]["id_number_masked"] == "360426********003X"


@pytest.mark.parametrize("filename", ["households_gb18030.csv", "households_utf8_bom.csv", "households.xlsx"])
def test_importing_the_same_file_again_changes_nothing(login, db, filename):
    staff = login("county_staff", county_codes=["340722"])
    _upload(staff, _fixture(filename), filename)
    before = list(db[storage.HOUSEHOLDS].find().sort("household_no"))
    audit_entries = db[storage.AUDIT_LOG].count_documents({})
    again = _upload(staff, _fixture(filename), filename).json
    assert (again["inserted"], again["updated"], again["unchanged"], again["rejected"]) == (0, 0, 4, 0)
    assert list(db[storage.HOUSEHOLDS].find().sort("household_no")) == before
    assert db[storage.AUDIT_LOG].count_documents({}) == audit_entries


def test_the_encodings_produce_identical_records(login, db):
    staff = login("county_staff", county_codes=["340722"])
    _upload(staff, _fixture("households_gb18030.csv"), "a.csv")
    for filename in ("households_utf8_bom.csv", "households.xlsx"):
        assert _upload(staff, _fixture(filename), filename).json["unchanged"] == 4


def test_bad_rows_are_reported_by_row_number_and_none_of_them_is_stored(login, db):
    staff = login("county_staff", county_codes=["340722"])
    result = _upload(staff, _fixture("households_bad_rows.csv")).json
    assert (result["rows"], result["inserted"], result["rejected"]) == (10, 2, 8)
    assert _error_keys(result) == {
        (3, "id_number"),
        (5, "village_code"),
        (6, "exit_year"),
        (7, "head_name"),
        (7, "members"),
        (8, "household_no"),
        (9, "id_number"),
        (10, "id_number"),
        (12, "status"),
    }
    duplicate = next(error for error in result["errors"] if error["row"] == 8)
    assert duplicate["column"] == "户编号" and "row 2" in duplicate["message"]
    stored = sorted(h["household_no"] for h in db[storage.HOUSEHOLDS].find())
    assert stored == ["3407222001", "3407222008"]
    assert "36042619910101007" not in str(result)


def test_a_dry_run_counts_but_stores_nothing(login, db):
    staff = login("county_staff", county_codes=["340722"])
    result = _upload(staff, _fixture("households_bad_rows.csv"), dry_run=True).json
    assert (result["dry_run"], result["inserted"], result["rejected"]) == (True, 2, 8)
    assert db[storage.HOUSEHOLDS].count_documents({}) == 0


def test_a_changed_row_updates_its_household_and_is_audited(login, db):
    staff = login("county_staff", county_codes=["340722"])
    original = _fixture("households_utf8_bom.csv")
    _upload(staff, original)
    changed = original.decode("utf-8-sig").replace("李四,360426198503150021,2,", "李四,360426198503150021,4,")
    result = _upload(staff, changed.encode("utf-8-sig")).json
    assert (result["updated"], result["unchanged"]) == (1, 3)
    household = db[storage.HOUSEHOLDS].find_one({"household_no": "3407221003"})
    assert household["members"] == 4 and household["version"] == 2
    entry = db[storage.AUDIT_LOG].find_one({"action": "household.update", "entity.id": household["_id"]})
    assert (entry["before"]["members"], entry["after"]["members"]) == (2, 4)


def test_a_missing_column_is_one_error_naming_it(login):
    data = "户编号,村代码,户主姓名,家庭人口数\n1,340722100201,张三,3\n".encode()
    response = _upload(login("county_staff"), data)
    assert response.status_code == 422
    assert response.json["error"]["message"] == "Missing required columns: 身份证号, 户类型."


def test_staff_import_only_into_their_counties(login, db):
    other = HEADER + f"3418221001,341822100201,张三,{ID_NUMBER},3,未脱贫,\n"
    staff = login("county_staff", county_codes=["340722"])
    result = _upload(staff, other.encode()).json
    assert _error_keys(result) == {(2, "village_code")}
    assert _upload(staff, other.encode(), county_code="341822").status_code == 403
    assert db[storage.HOUSEHOLDS].count_documents({}) == 0


def test_an_import_for_one_county_refuses_rows_of_another(login):
    rows = HEADER + f"3418221001,341822100201,张三,{ID_NUMBER},3,未脱贫,\n"
    result = _upload(login("admin"), rows.encode(), county_code="340722").json
    assert _error_keys(result) == {(2, "village_code")}


def test_a_row_may_not_take_over_another_countys_household(login, factory):
    factory.household("341822", household_no="3407221001", village_code="341822100201")
    rows = HEADER + f"3407221001,340722100201,张三,{ID_NUMBER},3,未脱贫,\n"
    result = _upload(login("county_staff", county_codes=["340722"]), rows.encode()).json
    assert _error_keys(result) == {(2, "household_no")}


def test_an_id_number_heading_a_stored_household_is_a_row_error(login, factory):
    factory.household(id_number=ID_NUMBER, household_no="3407229999")
    rows = HEADER + f"3407221001,340722100201,张三,{ID_NUMBER},3,未脱贫,\n"
    result = _upload(login("county_staff"), rows.encode()).json
    assert _error_keys(result) == {(2, "id_number")}
    assert "3407229999" in result["errors"][0]["message"]


def test_an_id_number_excel_turned_into_a_number_is_refused(login, db):
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.active.append(HEADER.strip().split(","))
    workbook.active.append(["3407221001", "340722100201", "张三", int(ID_NUMBER), 3, "未脱贫", None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    result = _upload(login("admin"), buffer.getvalue(), "h.xlsx").json
    assert _error_keys(result) == {(2, "id_number")}
    assert "format the column as text" in result["errors"][0]["message"]


def test_imports_look_up_households_in_batches(login, db, monkeypatch):
    lines = [HEADER]
    for number in range(1, 1201):
        lines.append(f"34072210{number:04d},340722100201,户主{number},{valid_id_number(number)},2,未脱贫,\n")
    # Row 1101 repeats the number of row 2, across a batch boundary.
    lines.append(f"340722100001,340722100201,重复,{valid_id_number(5000)},2,未脱贫,\n")
    data = "".join(lines).encode()
    collection_class = type(db[storage.HOUSEHOLDS])
    original_find = collection_class.find
    calls = []

    def counting_find(self, *args, **kwargs):
        if self.name == storage.HOUSEHOLDS:
            calls.append(args)
        return original_find(self, *args, **kwargs)

    monkeypatch.setattr(collection_class, "find", counting_find)
    result = _upload(login("admin"), data).json
    assert (result["inserted"], result["rejected"]) == (1200, 1)
    assert result["errors"][0]["row"] == 1202
    assert len(calls) <= 2 * 3  # households by number, then by ID hash, per batch of 500


def test_a_household_changed_during_the_import_is_a_row_error_and_keeps_that_change(login, db, monkeypatch):
    staff = login("county_staff", county_codes=["340722"])
    original = _fixture("households_utf8_bom.csv")
    _upload(staff, original)
    diff = household_register.HouseholdRegister.diff

    def edited_meanwhile(self, row_number, stored, data):
        if stored is not None and stored["household_no"] == "3407221003":
            db[storage.HOUSEHOLDS].update_one(
                {"_id": stored["_id"]}, {"$set": {"head_name": "李四光"}, "$inc": {"version": 1}}
            )
        return diff(self, row_number, stored, data)

    monkeypatch.setattr(household_register.HouseholdRegister, "diff", edited_meanwhile)
    changed = original.decode("utf-8-sig").replace(",2,", ",4,")
    result = _upload(staff, changed.encode("utf-8-sig")).json
    assert (result["updated"], result["rejected"]) == (0, 1)
    assert result["errors"] == [
        {
            "row": 4,
            "field": "household_no",
            "column": "户编号",
            "message": "Changed by someone else during the import; import again.",
        }
    ]
    household = db[storage.HOUSEHOLDS].find_one({"household_no": "3407221003"})
    assert (household["head_name"], household["members"], household["version"]) == ("李四光", 2, 2)


def test_the_import_command_reports_counts_and_row_errors(runner, db):
    path = str(FIXTURES / "households_bad_rows.csv")
    result = runner.invoke(args=["households", "import", path, "--county", "340722"])
    assert result.exit_code == 1
    assert "rows 10, inserted 2, updated 0, unchanged 0, rejected 8" in result.output
    assert "row 3, 身份证号:" in result.output
    assert db[storage.HOUSEHOLDS].count_documents({}) == 2


def test_the_import_command_dry_run_and_county(runner, db):
    path = str(FIXTURES / "households.xlsx")
    result = runner.invoke(args=["households", "import", path, "--dry-run", "--county", "340722"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Dry run: rows 4, inserted 4")
    assert db[storage.HOUSEHOLDS].count_documents({}) == 0


def test_the_import_command_names_missing_columns(runner, tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("户编号\n1\n", encoding="utf-8")
    result = runner.invoke(args=["households", "import", str(path)])
    assert result.exit_code != 0
    assert "村代码" in result.output


@pytest.mark.parametrize("role", ["enterprise", "canteen"])
def test_only_staff_import_households(login, role):
    assert _upload(login(role), _fixture("households_utf8_bom.csv")).status_code == 403


def test_an_import_without_a_file_is_422(login):
    response = login("admin").post(
        "/api/v1/households/import", data={"dry_run": "true"}, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    assert "file" in response.json["error"]["details"]


# The clear ID number never leaves the request that carries it --------------------------------------------


def test_a_whole_workflow_never_shows_a_clear_id_number(login, factory, db, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("service.request").setLevel(logging.DEBUG)
    imported_id = valid_id_number(777)
    patched_id = valid_id_number(778)
    secrets = [ID_NUMBER, OTHER_ID_NUMBER, imported_id, patched_id]
    staff = login("county_staff", county_codes=["340722"])
    admin = login("admin")
    bodies = []

    def keep(response):
        bodies.append(response.get_data(as_text=True))
        return response

    created = keep(staff.post("/api/v1/households", json=_new())).json
    keep(staff.post("/api/v1/households", json=_new(household_no="3407221009")))  # 409: same person
    keep(staff.post("/api/v1/households", json=_new(id_number=ID_NUMBER[:-1] + "2")))  # 422
    keep(staff.get("/api/v1/households"))
    keep(staff.get(f"/api/v1/households?q={created['household_no']}"))
    keep(staff.get(f"/api/v1/households/{created['id']}"))
    rows = HEADER + f"3407221002,340722100202,李四,{imported_id},2,未脱贫,\n"
    rows += f"3407221003,340722100202,王五,{ID_NUMBER},2,未脱贫,\n"  # row error: heads 3407221001
    keep(_upload(staff, rows.encode("gb18030")))
    keep(_upload(staff, rows.encode("gb18030"), dry_run=True))
    keep(staff.post("/api/v1/households/lookup", json={"id_number": imported_id}))
    keep(staff.post("/api/v1/households/lookup", json={"id_number": OTHER_ID_NUMBER}))  # 404
    keep(
        staff.patch(
            f"/api/v1/households/{created['id']}",
            json={"id_number": patched_id},
            headers={"If-Match": f'"{created["id"]}-1"'},
        )
    )
    operator = factory.operator("340722")
    enterprise = login("enterprise", operator_id=operator["_id"])
    keep(
        enterprise.post(
            "/api/v1/benefit-links",
            json={
                "household_no": "3407221002",
                "mechanism": "employment",
                "weight": 20,
                "valid_from": "2020-01-01",
            },
        )
    )
    keep(enterprise.get("/api/v1/households"))
    keep(enterprise.get("/api/v1/benefit-links"))
    keep(staff.get("/api/v1/benefit-links"))
    keep(staff.get("/api/v1/audit?per_page=200"))
    keep(admin.get("/api/v1/audit?per_page=200"))

    assert any("360426********" in body for body in bodies)  # the masked form is shown
    captured = capfd.readouterr()
    everything = "\n".join([*bodies, caplog.text, captured.out, captured.err])
    stored = "\n".join(str(document) for name in db.list_collection_names() for document in db[name].find())
    for secret in secrets:
        assert secret not in everything
        assert secret not in stored
