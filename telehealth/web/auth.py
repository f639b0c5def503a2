"""Who is asking: Flask-Login sessions for pages, bearer tokens for `/api/v1`, and the
role checks both use. Refusals raise domain errors; `web.errors` renders and audits them."""
from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

from flask import Flask, current_app, g, request
from flask_login import LoginManager, current_user

from telehealth.accounts import operations as accounts
from telehealth.accounts.models import Role, User
from telehealth.accounts.policy import AccountPolicy
from telehealth.actor import Actor
from telehealth.db import get_session
from telehealth.errors import NotAllowed, NotAuthenticated

login_manager = LoginManager()
F = TypeVar("F", bound=Callable[..., Any])


def init_auth(app: Flask) -> None:
    app.extensions["account_policy"] = AccountPolicy.from_config(app.config)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Please log in to continue."
    # "strong" logs out phones whose address changes (mobile networks); the idle timeout and
    # revocable login ids protect sessions instead.
    login_manager.session_protection = "basic"
    login_manager.user_loader(lambda login_id: accounts.user_by_login_id(get_session(), login_id))


def account_policy() -> AccountPolicy:
    return current_app.extensions["account_policy"]


def client_address() -> str:
    return request.remote_addr or "unknown"


def acting_user() -> User | None:
    """The user of this request: the bearer token's on the API, the session's on pages."""
    if "api_user" in g:
        return g.api_user
    if current_user and current_user.is_authenticated:
        return current_user._get_current_object()  # type: ignore[attr-defined]
    return None


def current_actor() -> Actor:
    user = acting_user()
    if user is None:
        return Actor.anonymous(client_address())
    return Actor.for_user(user, client_address())


def _check_role(roles: tuple[Role, ...]) -> None:
    user = acting_user()
    if user is None:
        raise NotAuthenticated("Please log in.")
    if roles and user.role not in roles:
        raise NotAllowed(f"This page is for {', '.join(r.value for r in roles)} accounts.")


def login_required(*roles: Role) -> Callable[[F], F]:
    """Pages: a logged-in user with one of `roles` (any role when none is given)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            _check_role(roles)
            return view(*args, **kwargs)
        return wrapper  # type: ignore[return-value]
    return decorate


def token_required(*roles: Role) -> Callable[[F], F]:
    """API: a valid bearer token of a user with one of `roles` (any role when none is given)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise NotAuthenticated("Send an `Authorization: Bearer <token>` header.")
            g.api_user, g.api_token = accounts.user_for_api_token(get_session(), token.strip())
            _check_role(roles)
            return view(*args, **kwargs)
        return wrapper  # type: ignore[return-value]
    return decorate
