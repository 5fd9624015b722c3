"""Sign-in and sign-out pages for people (programs use API tokens)."""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import EmailField, HiddenField, PasswordField
from wtforms.validators import InputRequired, Length

from accounts.addresses import address_key
from accounts.directory import authenticate_password, identity_of
from webapp.access import SessionUser, public
from webapp.extensions import limiter, remote_address
from webapp.runtime import runtime

bp = Blueprint("auth", __name__)
log = logging.getLogger("webapp.auth")

WRONG_CREDENTIALS = "Wrong email or password."
TOO_MANY_FAILURES = "Too many failed sign-ins. Wait a few minutes before trying again."


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=1024)])
    next = HiddenField()


def safe_next(target: str | None) -> str:
    """`target` if it is a path on this site, else the home page (no open redirect)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith(("//", "/\\")):
            return target
    return url_for("pages.home")


def _failed(response: Response) -> bool:
    """A sign-in that did not redirect did not succeed: it counts toward the lock-out."""
    return response.status_code != 302


def _login_key() -> str:
    return f"{remote_address()}|{address_key(request.form.get('email', ''))}"


def _login_limit() -> str:
    return runtime().settings.login_rate_limit


def _login_limit_per_ip() -> str:
    return runtime().settings.login_rate_limit_per_ip


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(_login_limit, key_func=_login_key, methods=["POST"], deduct_when=_failed,
               error_message=TOO_MANY_FAILURES, scope="login")
@limiter.limit(_login_limit_per_ip, key_func=remote_address, methods=["POST"], deduct_when=_failed,
               error_message=TOO_MANY_FAILURES, scope="login-ip")
def login() -> Response | tuple[str, int]:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        if current_user.is_authenticated:
            return redirect(safe_next(form.next.data))
    error = None
    if form.validate_on_submit():
        with runtime().db.transaction() as db_session:
            user = authenticate_password(db_session, form.email.data or "", form.password.data or "")
            identity = identity_of(user) if user else None
        if identity is not None:
            session.clear()  # a fresh session: nothing from before the sign-in carries over
            login_user(SessionUser(identity))
            session.permanent = True
            log.info("sign-in user=%s", identity.email)
            return redirect(safe_next(form.next.data))
        log.info("failed sign-in email=%s remote=%s", (form.email.data or "")[:254], remote_address())
        error = WRONG_CREDENTIALS
    elif request.method == "POST":
        error = "Enter your email and password."
    form.password.data = ""
    return render_template("login.html", form=form, error=error), 200


@bp.post("/logout")
@public
def logout() -> Response:
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))
