"""Every page a role reaches from its menu, its forms posted empty, and the refusal of a record that
is missing or not the caller's, speak Chinese only.

The visible text (tags, scripts and styles removed) must hold no English sentence (a run of four
or more ASCII words) and no raw field name (snake_case): a refusal shown in English means a code
without a text in the catalogue, or a message still translated by its wording.
"""

from __future__ import annotations

import html
import re

import pytest
from flask import url_for

from service.web.core import nav_items

_HIDDEN = re.compile(r"<(script|style|title)\b.*?</\1>", re.S | re.I)
_TAG = re.compile(r"<[^>]+>")
_SENTENCE = re.compile(r"[A-Za-z]+(?:[ ,;:'’-]+[A-Za-z]+){3,}")
_FIELD_NAME = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")
_POST_FORM = re.compile(r'<form[^>]*method="post"[^>]*action="([^"]+)"', re.I)
# Forms that end the session or need a file chosen in the browser are not posted empty.
_SKIP_POST = ("/logout",)

ROLES = {
    "county_staff": {"county_codes": ["340722"]},
    "admin": {},
    "enterprise": {},
    "canteen": {},
    "unit": {},
}


def visible_text(page: str) -> str:
    return html.unescape(_TAG.sub(" ", _HIDDEN.sub(" ", page)))


def english_in(page: str, username: str) -> list[str]:
    text = visible_text(page).replace(username, " ")
    return _SENTENCE.findall(text) + _FIELD_NAME.findall(text)


def _logged_in(factory, page_login, role: str):
    """A browser logged in as ``role``, bound to a record of its own where the role needs one."""
    binding = dict(ROLES[role])
    if role == "enterprise":
        binding["operator_id"] = factory.operator()["_id"]
    if role == "canteen":
        binding["canteen_id"] = factory.canteen()["_id"]
    if role == "unit":
        binding["unit_id"] = factory.buying_unit()["_id"]
    return page_login(role, **binding)


def _menu(app, role: str) -> list[str]:
    with app.test_request_context():
        return [url_for(endpoint) for endpoint, _label in nav_items(role)]


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_menu_page_and_its_forms_posted_empty_speak_chinese(app, factory, page_login, role):
    browser = _logged_in(factory, page_login, role)
    found: dict[str, list[str]] = {}
    posted: set[str] = set()
    for url in _menu(app, role):
        response = browser.get(url)
        assert response.status_code == 200, url
        page = response.get_data(as_text=True)
        if english := english_in(page, browser.user["username"]):
            found[url] = english
        for action in _POST_FORM.findall(page):
            action = html.unescape(action)
            if action in posted or action.startswith(_SKIP_POST):
                continue
            posted.add(action)
            answer = browser.post(action, {})
            shown = answer.status_code < 300 or answer.status_code >= 400
            if (
                shown
                and answer.mimetype == "text/html"
                and (english := english_in(answer.get_data(as_text=True), browser.user["username"]))
            ):
                found[f"POST {action}"] = english
    assert found == {}


def _object_pages(app) -> list[str]:
    """Every page of one record, for a record that does not exist (or is not the caller's)."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api") or "GET" not in rule.methods or len(rule.arguments) != 1:
            continue
        if "<objectid:" in rule.rule:
            found.append(re.sub(r"<objectid:\w+>", "0" * 24, rule.rule))
    return sorted(found)


@pytest.mark.parametrize("role", sorted(ROLES))
def test_a_missing_or_foreign_record_is_refused_in_chinese(app, factory, page_login, role):
    browser = _logged_in(factory, page_login, role)
    urls = _object_pages(app)
    assert len(urls) > 5
    found, refused = {}, 0
    for url in urls:
        answer = browser.get(url)
        refused += answer.status_code in (403, 404)
        if answer.mimetype == "text/html" and (
            english := english_in(answer.get_data(as_text=True), browser.user["username"])
        ):
            found[url] = english
    assert refused and found == {}
