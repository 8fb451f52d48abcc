"""Public pages."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for

bp = Blueprint("pages", __name__)


@bp.get("/")
def home():
    return render_template("home.html")


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for it whatever the pages say; the site's icon is a theme's static file."""
    return redirect(url_for("static", filename="favicon.svg"), 301)
