"""The purchase order as a document and a mail: the PDF renders and its text holds the lines and
the total; placing mails it, PDF attached, to a real SMTP server on loopback (aiosmtpd) and
records the sending; re-sending from the order page and the API; refusals record nothing; a
mail server that does not answer is recorded and said. Also the order page's place/cancel
buttons and totals."""

from __future__ import annotations

import email
import io
import socket
from decimal import Decimal

import pypdf
import pytest
from aiosmtpd.controller import Controller
from celery import current_app
from django.urls import reverse
from rest_framework.test import APIClient

from purchasing.documents import purchase_order_pdf, purchase_order_send
from purchasing.models import PurchaseOrderSending, PurchaseOrderStatus
from purchasing.services import OrderLine, PurchasingError, purchase_order_create, purchase_order_place

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def draft(supplier, warehouse, item, lot_item, actor):
    # WIDGET 10 x 2.50 = 25.00; MILK 4 x 1.20 = 4.80; total 29.80
    return purchase_order_create(
        supplier=supplier,
        warehouse=warehouse,
        lines=[OrderLine(item, D(10)), OrderLine(lot_item, D(4))],
        actor=actor,
    )


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.Message]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802 - aiosmtpd's hook
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp(settings):
    """A real SMTP server on loopback; Django's SMTP backend pointed at it."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield inbox
    controller.stop()


@pytest.fixture
def eager(monkeypatch):
    monkeypatch.setitem(current_app.conf, "task_always_eager", True)


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def test_the_pdf_holds_the_lines_and_the_total(draft):
    text = _pdf_text(purchase_order_pdf(draft))
    assert f"Purchase order {draft.number}" in text and "Acme Trading" in text
    assert "WIDGET" in text and "25.00" in text  # 10 x 2.50
    assert "MILK" in text and "4.80" in text  # 4 x 1.20
    assert "29.80" in text  # the total
    assert draft.total == D("29.80")


def test_placing_mails_the_order_to_the_supplier_and_records_it(
    draft, supplier, actor, smtp, eager, django_capture_on_commit_callbacks
):
    supplier.email = "orders@acme.example"
    supplier.save()
    with django_capture_on_commit_callbacks(execute=True):
        purchase_order_place(order=draft, actor=actor)

    ((to, message),) = smtp.messages
    assert to == ["orders@acme.example"] and message["Subject"] == f"Purchase order {draft.number}"
    (attachment,) = [part for part in message.walk() if part.get_content_type() == "application/pdf"]
    assert attachment.get_filename() == f"{draft.number}.pdf"
    assert "29.80" in _pdf_text(attachment.get_payload(decode=True))
    (sending,) = PurchaseOrderSending.objects.all()
    assert (sending.order, sending.sent_to, sending.sent_by, sending.error) == (draft, "orders@acme.example", None, "")


def test_re_sending_from_the_order_page_and_the_api(draft, supplier, actor, smtp, boss):
    supplier.email = "orders@acme.example"
    supplier.save()
    purchase_order_place(order=draft, actor=actor)  # not committed in this test: nothing mailed yet
    assert smtp.messages == []
    boss.post(reverse("admin:purchasing_purchaseorder_step", args=[draft.pk, "send"]))
    client = APIClient()
    client.force_authenticate(actor)
    response = client.post(f"/api/v1/purchase-orders/{draft.pk}/send/")
    assert response.status_code == 200 and response.json()["sent_at"] is not None
    assert response.json()["total"] == "29.8000"
    assert len(smtp.messages) == 2
    assert [s.sent_by for s in PurchaseOrderSending.objects.all()] == [actor, actor]


def test_a_draft_or_a_supplier_without_address_is_refused_and_nothing_recorded(draft, supplier, actor, smtp):
    with pytest.raises(PurchasingError, match="is draft: only a placed order is sent"):
        purchase_order_send(order=draft, actor=actor)
    purchase_order_place(order=draft, actor=actor)
    with pytest.raises(PurchasingError, match="Supplier ACME has no e-mail address"):
        purchase_order_send(order=draft, actor=actor)
    assert not PurchaseOrderSending.objects.exists() and smtp.messages == []


def test_a_mail_server_that_does_not_answer_is_recorded_and_said(draft, supplier, actor, settings):
    supplier.email = "orders@acme.example"
    supplier.save()
    purchase_order_place(order=draft, actor=actor)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", _free_port(), 2
    with pytest.raises(PurchasingError, match="The mail server refused"):
        purchase_order_send(order=draft, actor=actor)
    (sending,) = PurchaseOrderSending.objects.all()
    assert sending.error.startswith("ConnectionRefusedError")


def test_the_order_page_places_cancels_totals_and_serves_the_pdf(draft, boss, person, client):
    page = boss.get(reverse("admin:purchasing_purchaseorder_change", args=[draft.pk])).content.decode()
    assert "Place the order" in page and "29.80 EUR" in page
    boss.post(reverse("admin:purchasing_purchaseorder_step", args=[draft.pk, "place"]))
    draft.refresh_from_db()
    assert draft.status == PurchaseOrderStatus.ORDERED
    again = boss.post(reverse("admin:purchasing_purchaseorder_step", args=[draft.pk, "place"]), follow=True)
    assert "only a draft can be placed" in again.content.decode()  # a message, not an error page
    assert boss.get(reverse("admin:purchasing_purchaseorder_step", args=[draft.pk, "cancel"])).status_code == 404
    boss.post(reverse("admin:purchasing_purchaseorder_step", args=[draft.pk, "cancel"]))
    draft.refresh_from_db()
    assert draft.status == PurchaseOrderStatus.CANCELLED
    pdf = boss.get(reverse("admin:purchasing_purchaseorder_pdf", args=[draft.pk]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    listing = boss.get(reverse("admin:purchasing_purchaseorder_changelist") + "?q=WIDGET").content.decode()
    assert "29.80 EUR" in listing  # the search joins the lines; the total still counts each once


def test_another_warehouses_order_cannot_be_placed_from_its_page(draft, person, client):
    viewer = person("Purchasing manager")  # no right in WH1
    viewer.is_staff = True
    viewer.save()
    client.force_login(viewer)
    response = client.post(reverse("admin:purchasing_purchaseorder_step", args=[draft.pk, "place"]))
    assert response.status_code == 404
    draft.refresh_from_db()
    assert draft.status == PurchaseOrderStatus.DRAFT
