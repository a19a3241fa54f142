"""The API's schema and docs pages are not public unless ``API_DOCS_PUBLIC`` says so (issue 12,
5): a stranger gets a 401 for the schema and the login page for the docs; a signed-in user (a
token or a session, any role) reads them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

PAGES = ["/api/v1/docs/", "/api/v1/redoc/"]


def test_a_stranger_gets_no_schema(db):
    response = APIClient().get("/api/v1/schema/?format=json")

    assert response.status_code == 401  # before: 200, the whole map of the API
    assert response.json()["code"] == "not_authenticated"
    assert "paths" not in response.content.decode()


@pytest.mark.parametrize("page", PAGES)
def test_a_stranger_is_sent_to_the_login_page_and_back(db, page):
    response = Client().get(page)

    assert response.status_code == 302
    assert response["Location"] == f"/api/v1/auth/login/?next={page}"


def test_a_token_reads_the_schema(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=User.objects.create_user('shop')).key}")

    response = client.get("/api/v1/schema/?format=json")

    assert response.status_code == 200
    assert "/api/v1/sales/" in response.json()["paths"]


@pytest.mark.parametrize("page", PAGES)
def test_a_signed_in_user_reads_the_docs(db, page):
    client = Client()
    client.force_login(User.objects.create_user("reader"))
    assert client.get(page).status_code == 200


@override_settings(API_DOCS_PUBLIC=True)
@pytest.mark.parametrize("page", ["/api/v1/schema/", *PAGES])
def test_api_docs_public_opens_them_to_everyone(db, page):
    assert Client().get(page).status_code == 200
