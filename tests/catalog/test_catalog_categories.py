"""Categories: the stored path, kept by ``category_save`` through renames and moves."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from catalog.models import Category, ValuationMethod
from catalog.services import category_get_or_create_path, category_save

pytestmark = pytest.mark.django_db


def _paths() -> list[str]:
    return list(Category.objects.order_by("path").values_list("path", flat=True))


@pytest.fixture
def tree() -> dict[str, Category]:
    home = category_save(category=Category(name="Home"))
    kitchen = category_save(category=Category(name="Kitchen", parent=home))
    knives = category_save(category=Category(name="Knives", parent=kitchen))
    outdoor = category_save(category=Category(name="Outdoor"))
    return {"home": home, "kitchen": kitchen, "knives": knives, "outdoor": outdoor}


def test_path_names_every_level_from_the_root(tree):
    assert tree["knives"].path == "Home > Kitchen > Knives"
    assert str(tree["knives"]) == "Home > Kitchen > Knives"
    assert _paths() == ["Home", "Home > Kitchen", "Home > Kitchen > Knives", "Outdoor"]


def test_renaming_a_parent_updates_the_paths_of_all_descendants(tree):
    home = tree["home"]
    home.name = "House"
    category_save(category=home)

    assert _paths() == ["House", "House > Kitchen", "House > Kitchen > Knives", "Outdoor"]
    assert tree["knives"].history.latest().path == "House > Kitchen > Knives"  # recorded in history too


def test_moving_a_subtree_updates_its_paths_and_nothing_else(tree):
    kitchen = tree["kitchen"]
    kitchen.parent = tree["outdoor"]
    category_save(category=kitchen)

    assert _paths() == ["Home", "Outdoor", "Outdoor > Kitchen", "Outdoor > Kitchen > Knives"]
    assert tree["home"].history.count() == 1  # untouched


@pytest.mark.parametrize("new_parent", ["knives", "kitchen", "home"])
def test_a_category_cannot_be_put_inside_itself(tree, new_parent):
    home = tree["home"]
    home.parent = tree[new_parent]

    with pytest.raises(ValidationError) as excinfo:
        category_save(category=home)

    assert excinfo.value.message_dict["parent"] == ["A category cannot be inside itself."]
    assert Category.objects.get(pk=home.pk).parent is None
    assert _paths() == ["Home", "Home > Kitchen", "Home > Kitchen > Knives", "Outdoor"]


def test_a_name_cannot_contain_the_path_separator():
    with pytest.raises(ValidationError) as excinfo:
        category_save(category=Category(name="Pots > Pans"))

    assert "name" in excinfo.value.message_dict
    assert not Category.objects.exists()


def test_names_are_unique_among_siblings_ignoring_case(tree):
    with pytest.raises(ValidationError):
        category_save(category=Category(name="kitchen", parent=tree["home"]))
    with pytest.raises(ValidationError):
        category_save(category=Category(name="HOME"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Category.objects.create(name="KITCHEN", parent=tree["home"], path="x")

    category_save(category=Category(name="Kitchen", parent=tree["outdoor"]))  # another parent: fine
    assert Category.objects.filter(name__iexact="kitchen").count() == 2


def test_get_or_create_path_creates_missing_levels_and_reuses_existing_ones(tree):
    spoons = category_get_or_create_path(path=" home >KITCHEN > Spoons ")

    assert spoons.path == "Home > Kitchen > Spoons"
    assert spoons.parent == tree["kitchen"]
    assert Category.objects.count() == 5

    again = category_get_or_create_path(path="Home > Kitchen > Spoons")
    assert again == spoons
    assert Category.objects.count() == 5


def test_get_or_create_path_refuses_an_empty_path():
    with pytest.raises(ValueError, match="empty category path"):
        category_get_or_create_path(path=" > ")
    assert not Category.objects.exists()


def test_effective_valuation_method_is_inherited_from_the_nearest_ancestor(tree):
    home = tree["home"]
    home.valuation_method = ValuationMethod.FIFO
    category_save(category=home)
    kitchen = tree["kitchen"]
    kitchen.valuation_method = ValuationMethod.MOVING_AVERAGE
    category_save(category=kitchen)

    assert Category.objects.get(pk=tree["knives"].pk).effective_valuation_method() == ValuationMethod.MOVING_AVERAGE
    assert Category.objects.get(pk=home.pk).effective_valuation_method() == ValuationMethod.FIFO
    assert tree["outdoor"].effective_valuation_method() == ValuationMethod.MOVING_AVERAGE  # the default
