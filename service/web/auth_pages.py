"""Login, logout and each role's home."""

from __future__ import annotations

from flask import g, redirect, render_template, request, session, url_for

from service import auth
from service.access import EVERYONE, allow, public
from service.errors import TooManyRequests, Unauthorized
from service.storage import get_db
from service.web import messages
from service.web.core import (
    SESSION_TOKEN,
    PageBlueprint,
    current_principal,
    home_url,
    safe_next,
)

bp = PageBlueprint("auth_pages", __name__)


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if request.method == "GET":
        if g.get("principal") is not None:
            return redirect(home_url(current_principal().role))
        return render_template("web/login.html", next=request.args.get("next", ""))
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    error, status, headers = None, 401, {}
    if not username or not password:
        error = "请输入用户名和密码。"
    else:
        try:
            token, user = auth.login(get_db(), username, password, request.remote_addr or "unknown")
        except TooManyRequests as refused:
            wait = refused.details.get("retry_after_seconds", 60)
            error = f"登录失败次数过多，请 {wait} 秒后再试。"
            status, headers = refused.status, refused.headers
        except Unauthorized as refused:
            error = messages.refusal(refused)
        else:
            old = session.get(SESSION_TOKEN)
            if old:
                auth.revoke_token(get_db(), old)
            # A new session on login: nothing from before it survives (no session fixation).
            session.clear()
            session.permanent = True
            session[SESSION_TOKEN] = token
            target = safe_next(request.form.get("next"), home_url(user["role"]))
            return redirect(target)
    return (
        render_template("web/login.html", error=error, username=username, next=request.form.get("next", "")),
        status,
        headers,
    )


@bp.route("/logout", methods=["POST"])
@public
def logout():
    token = session.pop(SESSION_TOKEN, None)
    if token:
        auth.revoke_token(get_db(), token)
    session.clear()
    return redirect(url_for("auth_pages.login", logged_out=1))


@bp.route("/")
@allow(*EVERYONE)
def home():
    return redirect(home_url(current_principal().role))
