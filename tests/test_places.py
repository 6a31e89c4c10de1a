"""The place register: import of the national division-code file, names of codes, scope."""

from __future__ import annotations

import io

import openpyxl
import pytest

from service import places, storage

A, B = "340722", "341822"
URL = f"/api/v1/counties/{A}/places"


@pytest.fixture
def staff(login):
    return login("county_staff", county_codes=[A])


def csv_file(rows, encoding="utf-8") -> bytes:
    lines = ["统计用区划代码,名称,城乡分类代码", *(",".join(row) for row in rows)]
    return ("\n".join(lines) + "\n").encode(encoding)


def upload(caller, data: bytes, filename="places.csv", url=URL + "/import", **form):
    return caller.post(
        url,
        data={"file": (io.BytesIO(data), filename), **{k: str(v).lower() for k, v in form.items()}},
        content_type="multipart/form-data",
    )


REGISTER = [
    ("340722000000", "枞阳县", ""),
    ("340722100000", "枞阳镇", ""),
    ("340722100200", "桂花社区居委会", "121"),
    ("340722100201", "新民村委会", "220"),
    ("340722101000", "横埠镇", ""),
]


def test_a_gb18030_csv_fills_the_register_and_a_reimport_changes_nothing(staff, db):
    data = csv_file(REGISTER, "gb18030")
    result = upload(staff, data)
    assert result.status_code == 200, result.json
    assert {k: result.json[k] for k in ("rows", "inserted", "skipped", "rejected")} == {
        "rows": 5,
        "inserted": 4,
        "skipped": 1,
        "rejected": 0,
    }
    listed = staff.get(URL).json
    assert [(p["code"], p["level"], p["name"]) for p in listed["items"]] == [
        ("340722100", "township", "枞阳镇"),
        ("340722100200", "village", "桂花社区居委会"),
        ("340722100201", "village", "新民村委会"),
        ("340722101", "township", "横埠镇"),
    ]
    again = upload(staff, data).json
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 4)


def test_an_xlsx_renames_by_code_and_a_dry_run_writes_nothing(staff, db):
    upload(staff, csv_file(REGISTER))
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["统计用区划代码", "名称", "城乡分类代码"])
    sheet.append(["340722100201", "新民村", "220"])
    buffer = io.BytesIO()
    book.save(buffer)
    dry = upload(staff, buffer.getvalue(), "places.xlsx", dry_run=True).json
    assert (dry["updated"], dry["dry_run"]) == (1, True)
    assert places.names(db, ["340722100201"]) == {"340722100201": "新民村委会"}
    upload(staff, buffer.getvalue(), "places.xlsx")
    renamed = places.names(db, ["340722100201", "340722100"])
    assert renamed == {"340722100201": "新民村", "340722100": "枞阳镇"}
    assert db[storage.AUDIT_LOG].count_documents({"action": "place.update"}) == 1


def test_bad_rows_are_rejected_with_their_row_numbers(staff, db):
    rows = [
        ("3407221002", "短代码", ""),
        ("341822100200", "外县村", "220"),
        ("340722100202", "", "220"),
        ("340722100203", "某村", "999"),
        ("340722102000", "某镇", "220"),
        ("340722100204", "好村", "220"),
        ("340722100204", "重复村", "220"),
    ]
    result = upload(staff, csv_file(rows)).json
    assert result["inserted"] == 1 and result["rejected"] == 6
    assert sorted(error["row"] for error in result["errors"]) == [2, 3, 4, 5, 6, 8]


def test_names_and_codes_without_a_name(staff, factory, db):
    upload(staff, csv_file(REGISTER))
    factory.household(A, village_code="340722100201")
    factory.household(A, village_code="340722105203")
    factory.household(A, village_code="340722105203")
    unnamed = staff.get(f"{URL}/unnamed").json["items"]
    assert unnamed == [
        {"code": "340722105", "level": "township", "households": 2},
        {"code": "340722105203", "level": "village", "households": 2},
    ]
    named = staff.put(f"{URL}/340722105", json={"name": "项铺镇"})
    assert named.status_code == 200, named.json
    assert named.json["statistical_code"] == "340722105000"
    assert [item["code"] for item in staff.get(f"{URL}/unnamed").json["items"]] == ["340722105203"]
    assert places.shown("340722105203", places.names(db, ["340722105203"])) == "340722105203"


def test_a_name_is_given_only_to_a_place_of_the_county(staff):
    response = staff.put(f"{URL}/341822100200", json={"name": "外县村"})
    assert response.status_code == 422
    assert response.json["error"]["code"] == "place.outside_county"
    # A segment of neither 9 nor 12 digits names no place: the URL does not exist.
    malformed = staff.put(f"{URL}/34072210", json={"name": "某镇"})
    assert (malformed.status_code, malformed.json["error"]["code"]) == (404, "not_found")


def test_another_county_and_a_missing_one_answer_alike(staff, login):
    for county in (B, "999999", "abc"):
        for response in (
            staff.get(f"/api/v1/counties/{county}/places"),
            staff.get(f"/api/v1/counties/{county}/places/unnamed"),
            staff.put(f"/api/v1/counties/{county}/places/{B}100", json={"name": "某镇"}),
            upload(staff, csv_file(REGISTER), url=f"/api/v1/counties/{county}/places/import"),
        ):
            assert response.status_code == 403, (county, response.json)
            assert response.json["error"]["message"] == f"County {county} is outside your counties."


@pytest.mark.parametrize("role", ["enterprise", "canteen"])
def test_enterprises_and_canteens_have_no_place_register(login, factory, role):
    binding = {"operator_id": factory.operator(A)["_id"]} if role == "enterprise" else {}
    if role == "canteen":
        binding = {"canteen_id": factory.canteen(A)["_id"]}
    caller = login(role, **binding)
    assert caller.get(URL).status_code == 403


def test_the_demo_register_names_every_township_and_village_once():
    data = places.demo_register(A, "枞阳县", [("100", "枞阳镇"), ("101", "横埠镇")], 6)
    rows = data.decode("utf-8").splitlines()[1:]
    codes = [row.split(",")[0] for row in rows]
    names = [row.split(",")[1] for row in rows[2:8]]
    assert len(codes) == len(set(codes)) == 1 + 2 * 7
    assert len(set(names)) == 6


def test_the_household_api_names_the_township_and_village_beside_their_codes(staff, factory, login):
    upload(staff, csv_file(REGISTER))
    named = factory.household(A, village_code="340722100201")
    factory.household(A, village_code="340722105203")
    listed = staff.get("/api/v1/households").json["items"]
    names = {item["village_code"]: (item["township_name"], item["village_name"]) for item in listed}
    assert names == {"340722100201": ("枞阳镇", "新民村委会"), "340722105203": (None, None)}
    operator = factory.operator(A)
    factory.benefit_link(operator, named)
    enterprise = login("enterprise", operator_id=operator["_id"])
    one = enterprise.get(f"/api/v1/households/{named['_id']}").json
    assert (one["township_code"], one["township_name"]) == ("340722100", "枞阳镇")
    assert (one["village_code"], one["village_name"]) == ("340722100201", "新民村委会")
