"""Each app's errors carry their own code and HTTP status (issue 13, item 3): the API's error
handler (``common.api.errors``) reads them from any ``common.errors.DomainError`` and holds no
table of app exceptions. Before issue 13 the handler named stock's exceptions and kept their
statuses in a table of its own (``STOCK_ERROR_STATUS``); an app error it did not list was a
400 whatever it said, and its extra fields were dropped."""

from __future__ import annotations

import inspect
from decimal import Decimal
from typing import Any

from common.api import errors as api_errors
from common.errors import DomainError
from purchasing.services import PurchasingError
from stock.services import AlreadyReversed, InsufficientStock, InvalidMovement, StockError


class KettleBoiling(DomainError):
    """An error of an app the plumbing has never heard of."""

    code = "kettle_boiling"
    http_status = 409

    def api_fields(self) -> dict[str, Any]:
        return {"kettle": "K-1", "minutes": 3}


def test_the_handler_answers_any_domain_error_with_its_own_code_status_and_fields() -> None:
    response = api_errors.exception_handler(KettleBoiling("The kettle is boiling; wait 3 minutes."), {})

    assert response is not None
    assert response.status_code == 409  # the error's own http_status
    assert response.data == {
        "code": "kettle_boiling",
        "detail": "The kettle is boiling; wait 3 minutes.",
        "kettle": "K-1",
        "minutes": 3,
    }


def test_a_domain_error_without_a_status_is_a_400_with_only_code_and_detail() -> None:
    response = api_errors.exception_handler(DomainError("No.", why="internal detail"), {})

    assert response is not None
    # the details stay off the wire: they are for the program
    assert (response.status_code, response.data) == (400, {"code": "error", "detail": "No."})


def test_the_apps_errors_name_their_statuses() -> None:
    # The statuses the API answered before the move (the error contract): conflicts with the
    # ledger's state are 409, every other refusal of an action 400.
    assert issubclass(StockError, DomainError) and issubclass(PurchasingError, DomainError)
    assert (InsufficientStock.http_status, InsufficientStock.code) == (409, "insufficient_stock")
    assert (AlreadyReversed.http_status, AlreadyReversed.code) == (409, "already_reversed")
    assert (InvalidMovement.http_status, StockError.http_status, PurchasingError.http_status) == (400, 400, 400)


def test_insufficient_stock_carries_its_fields_as_decimal_strings(world: dict) -> None:
    bin1 = world["A"]["bin1"]
    error = InsufficientStock(item=world["widget"], location=bin1, lot=None, asked=Decimal(5), available=Decimal(2))

    assert error.api_fields() == {
        "sku": "WIDGET",
        "available": "2.0000",  # 2 quantised to the API's 4 places
        "asked": "5.0000",
        "warehouse": "A",  # the bin's warehouse
        "location": str(bin1),
        "lot": None,
    }


def test_the_handler_names_no_app_exception() -> None:
    source = inspect.getsource(api_errors)
    assert not any(name in source for name in ("InsufficientStock", "StockError", "PurchasingError", "STOCK_ERROR"))
