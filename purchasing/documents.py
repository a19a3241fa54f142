"""The purchase order as a document: HTML and PDF (WeasyPrint), and mailing it to the supplier.

``purchase_order_send`` is the one way an order reaches a supplier: when it is placed
(``purchasing.tasks.send_purchase_order``, enqueued after the placing commits) and on request
(the order's admin page, ``POST /api/v1/purchase-orders/{id}/send/``). Every attempt is recorded
as a ``PurchaseOrderSending`` row on the order, refused or not by the mail server.
"""

from __future__ import annotations

import logging
import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import Prefetch
from django.template.loader import render_to_string
from django.utils import timezone

from catalog.permissions import WarehouseAction, warehouse_require
from common.actors import Actor

from .models import PurchaseOrder, PurchaseOrderLine, PurchaseOrderSending, PurchaseOrderStatus
from .services import PurchasingError

logger = logging.getLogger(__name__)


def _with_lines(order: PurchaseOrder) -> PurchaseOrder:
    return (
        PurchaseOrder.objects.select_related("supplier", "warehouse")
        .prefetch_related(Prefetch("lines", queryset=PurchaseOrderLine.objects.select_related("item__base_unit")))
        .get(pk=order.pk)
    )


def purchase_order_html(order: PurchaseOrder) -> str:
    """The order as the supplier reads it: our and their SKUs, quantities, prices, the total,
    where and when to deliver."""
    order = _with_lines(order)
    offers = {o.item_id: o.supplier_sku for o in order.supplier.items.all()}
    lines = [(line, offers.get(line.item_id, ""), line.quantity * line.unit_cost) for line in order.lines.all()]
    return render_to_string(
        "purchasing/purchase_order.html",
        {"order": order, "lines": lines, "currency": settings.CURRENCY},
    )


def purchase_order_pdf(order: PurchaseOrder) -> bytes:
    """``purchase_order_html`` rendered to PDF by WeasyPrint (needs Debian's pango)."""
    from weasyprint import HTML  # type: ignore[import-untyped]  # heavy: loaded when the first document is made

    return HTML(string=purchase_order_html(order)).write_pdf()


def purchase_order_send(*, order: PurchaseOrder, actor: Actor | None) -> PurchaseOrderSending:
    """Mail the placed order, its PDF attached, to the supplier's address and record the attempt.
    Needs ``purchasing.change_purchaseorder`` and the right to view stock in the order's
    warehouse. Refuses (recording nothing) a draft or cancelled order and a supplier without an
    address; a mail server's refusal is recorded on the order and raised as ``PurchasingError``."""
    order = _with_lines(order)
    warehouse_require(actor, order.warehouse, WarehouseAction.VIEW, model_perm="purchasing.change_purchaseorder")
    if order.status in (PurchaseOrderStatus.DRAFT, PurchaseOrderStatus.CANCELLED):
        raise PurchasingError(f"{order.number} is {order.get_status_display().lower()}: only a placed order is sent.")
    if not order.supplier.email:
        raise PurchasingError(f"Supplier {order.supplier.code} has no e-mail address: add one on the supplier.")
    body = (
        f"Dear {order.supplier.name},\n\nplease find our purchase order {order.number} attached "
        f"(delivery to {order.warehouse.name}"
        + (f" by {order.expected_on:%Y-%m-%d}" if order.expected_on else "")
        + ").\n\nKind regards\n"
    )
    mail = EmailMultiAlternatives(subject=f"Purchase order {order.number}", body=body, to=[order.supplier.email])
    mail.attach_alternative(purchase_order_html(order), "text/html")
    mail.attach(f"{order.number}.pdf", purchase_order_pdf(order), "application/pdf")
    error = ""
    try:
        mail.send()
    except (smtplib.SMTPException, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"
        logger.warning("Sending %s to %s failed: %s", order.number, order.supplier.email, error)
    sending = PurchaseOrderSending.objects.create(
        order=order, sent_to=order.supplier.email, sent_at=timezone.now(), sent_by=actor, error=error
    )
    if error:
        raise PurchasingError(f"The mail server refused {order.number} for {order.supplier.email}: {error}")
    return sending
