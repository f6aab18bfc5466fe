"""The safety officers' label pages under /ui/labels: each product's reference safety information by
jurisdiction and effective date, and a form adding a version (the rules are pv_service.rsi.service's)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, func, select

from pv_service.auth.principal import SessionDep
from pv_service.common.errors import Conflict, InvalidInput
from pv_service.core.deps import Now
from pv_service.products.models import Product, ProductApproval
from pv_service.products.service import get_product
from pv_service.rsi import service
from pv_service.rsi.models import RsiVersion
from pv_service.rsi.schemas import RsiVersionIn
from pv_service.web.auth import Officer, WebSession, check_csrf
from pv_service.web.router import UIRoute, render

router = APIRouter(route_class=UIRoute, include_in_schema=False)
TERM_HELP = 'One labelled event a line: "pt CODE", "hlt CODE" or "smq CODE [narrow|broad]", then the name if you like.'


def parse_terms(text: str) -> list[dict]:
    """Lines like 'pt 96000001 Cytokine release syndrome' or 'smq 90000003 broad'; blank lines are skipped.
    Shape errors are left to the model, which names the line (terms[i])."""
    terms = []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        kind, code, rest = parts[0].lower(), parts[1] if len(parts) > 1 else "", parts[2:]
        term = {"kind": kind, "code": code}
        if kind == "smq" and rest and rest[0].lower() in ("narrow", "broad"):
            term["scope"], rest = rest[0].lower(), rest[1:]
        if rest:
            term["name"] = " ".join(rest)[:250]
        terms.append(term)
    return terms


@router.get("/ui/labels")
def labels_index(request: Request, web: Officer, session: SessionDep) -> Response:
    counts = dict(session.exec(select(RsiVersion.product_id, func.count()).group_by(RsiVersion.product_id)).all())
    products = session.exec(select(Product).order_by(Product.code)).all()
    return render(request, "labels_index.html", {"web": web, "nav": "labels", "products": products, "counts": counts})


def _page(request: Request, session: Session, web: WebSession, product_id: int, *, error: str | None = None,
          form: dict | None = None, done: bool = False, status_code: int = 200) -> Response:
    product = get_product(session, product_id)
    jurisdictions = sorted(set(session.exec(select(ProductApproval.jurisdiction)
                                            .where(ProductApproval.product_id == product.id))))
    return render(request, "labels.html", {
        "web": web, "nav": "labels", "product": product, "jurisdictions": jurisdictions,
        "versions": service.describe(session, service.product_versions(session, product.id)),
        "error": error, "form": form or {}, "done": done, "term_help": TERM_HELP,
    }, status_code)


@router.get("/ui/products/{product_id}/labels")
def product_labels(request: Request, web: Officer, session: SessionDep, product_id: int, done: bool = False) -> Response:
    return _page(request, session, web, product_id, done=done)


@router.post("/ui/products/{product_id}/labels")
def add_label(request: Request, web: Officer, session: SessionDep, now: Now, product_id: int,
              jurisdiction: Annotated[str, Form()] = "", version_label: Annotated[str, Form()] = "",
              effective_from: Annotated[str, Form()] = "", source: Annotated[str, Form()] = "",
              terms: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(web, csrf_token)
    form = {"jurisdiction": jurisdiction, "version_label": version_label, "effective_from": effective_from,
            "source": source, "terms": terms}

    def refuse(message: str, status_code: int) -> Response:
        session.rollback()
        return _page(request, session, web, product_id, error=message, form=form, status_code=status_code)

    product = get_product(session, product_id)
    try:
        body = RsiVersionIn(jurisdiction=jurisdiction, version_label=version_label, effective_from=effective_from,
                            source=source, terms=parse_terms(terms))
    except ValidationError as exc:
        return refuse("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()), 422)
    try:
        service.create_version(session, web.principal, product, body, now)
    except InvalidInput as exc:
        return refuse("; ".join(f"{'.'.join(map(str, p.loc[1:]))}: {p.msg}" for p in exc.problems), 422)
    except Conflict as exc:
        return refuse(exc.message, 409)
    session.commit()
    return RedirectResponse(f"/ui/products/{product_id}/labels?done=true", status_code=303)
