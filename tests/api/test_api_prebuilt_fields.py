"""``common.api.serializers.PrebuiltFieldsSerializer``: the sale's input fields are built once per
thread, and sharing them changes no answer: each instance validates its own data, keeps its own
errors and is the root of its fields; another thread has its own fields."""

from __future__ import annotations

import threading
from decimal import Decimal

from rest_framework import serializers

from common.api.serializers import PrebuiltFieldsSerializer
from stock.api import SaleApi


class _Line(serializers.Serializer):
    sku = serializers.CharField(max_length=5)
    quantity = serializers.DecimalField(max_digits=6, decimal_places=2, min_value=Decimal("0.01"))


class _Document(PrebuiltFieldsSerializer):
    reference = serializers.CharField(max_length=10)
    lines = _Line(many=True, min_length=1)


def test_the_fields_are_built_once_per_thread_and_each_instance_is_their_root():
    first, second = _Document(data={}), _Document(data={})

    assert first.fields is not None and second.fields is first.fields  # one build in this thread
    assert second.fields["lines"].root is second
    assert second.fields["lines"].child.fields["sku"].root is second

    elsewhere: list = []
    thread = threading.Thread(target=lambda: elsewhere.append(_Document(data={}).fields))
    thread.start()
    thread.join()
    assert elsewhere[0] is not first.fields


def test_instances_sharing_fields_keep_their_own_data_and_errors():
    bad = _Document(data={"reference": "R-1", "lines": [{"sku": "TOOLONG", "quantity": "0"}]})
    good = _Document(data={"reference": "R-2", "lines": [{"sku": "AB", "quantity": "1.5"}]})

    assert not bad.is_valid()
    assert good.is_valid(), good.errors
    assert good.validated_data == {"reference": "R-2", "lines": [{"sku": "AB", "quantity": Decimal("1.5")}]}
    assert good.errors == {}
    assert set(bad.errors["lines"][0]) == {"sku", "quantity"}  # 7 characters > 5; 0 < 0.01
    assert _Document(data={"reference": "R-3", "lines": []}).is_valid() is False  # min_length 1, still


def test_the_sales_input_serializer_is_built_once():
    assert issubclass(SaleApi.InputSerializer, PrebuiltFieldsSerializer)
    assert SaleApi.InputSerializer(data={}).fields is SaleApi.InputSerializer(data={}).fields
