"""Pages for CSV imports: the upload form and the list of imports with their summaries."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from accounts.roles import Role
from etl.datasets import DATASETS
from etl.models import ImportRun
from etl.submit import UploadRejected
from jobs.models import Job
from webapp.access import requires
from webapp.api.etl import accept_upload
from webapp.rate_limits import submit_rate_limits
from webapp.runtime import runtime
from webapp.security import accepts_uploads

bp = Blueprint("imports", __name__, url_prefix="/imports")
LIST_LIMIT = 50


class ImportForm(FlaskForm):
    dataset = SelectField("Dataset", choices=[SelectChoice(name, f"{name}: {spec.description}")
                                              for name, spec in DATASETS.items()])
    file = FileField("CSV file (.csv or .csv.gz; UTF-8 or Latin-1; comma, semicolon or tab)")


@bp.get("")
def list_imports() -> str:
    with runtime().db.read_session() as session:
        rows = session.execute(
            select(ImportRun, Job).join(Job, Job.id == ImportRun.job_id)
            .order_by(ImportRun.created_at.desc()).limit(LIST_LIMIT)
        ).all()
    return render_template("imports.html", imports=rows, new=request.args.get("new"))


@bp.route("/new", methods=["GET", "POST"])
@requires(Role.OPERATOR)
@accepts_uploads
@submit_rate_limits
def new_import() -> Response | tuple[str, int]:
    form = ImportForm()
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            job = accept_upload(form.dataset.data, request.files.get("file"))
        except UploadRejected as error:
            errors[error.field] = error.reason
        else:
            return redirect(url_for("imports.list_imports", new=str(job.id)), code=303)
    return render_template("import_new.html", form=form, errors=errors), 422 if errors else 200
