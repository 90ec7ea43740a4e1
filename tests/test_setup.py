import pytest

from controlplane.accounts.models import User
from controlplane.tenancy.models import AuditEntry, Role

pytestmark = pytest.mark.django_db


def test_it_sends_every_page_to_setup_while_no_account_exists(client):
    for path in ("/", "/account/login/", "/acme/production/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"] == "/setup/"


def test_it_creates_the_first_owner_and_organization(client):
    response = client.post(
        "/setup/",
        {
            "name": "Ada",
            "email": "Ada@Example.test",
            "password": "a long enough passphrase",
            "password_confirm": "a long enough passphrase",
            "organization": "Acme Corp",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/account/security/"
    user = User.objects.get()
    assert user.email == "ada@example.test"
    membership = user.memberships.get()
    assert membership.role == Role.OWNER
    org = membership.organization
    assert org.slug == "acme-corp"
    assert sorted(org.environments.values_list("slug", "kind")) == [
        ("development", "development"),
        ("production", "production"),
    ]
    assert AuditEntry.objects.filter(organization=org, action="organization.created").exists()
    # Signed in already: the dashboard opens on the Production environment.
    assert client.get("/acme-corp/").headers["Location"] == "/acme-corp/production/"


def test_it_rejects_bad_setup_input_and_writes_nothing(client):
    response = client.post(
        "/setup/",
        {
            "email": "not-an-email",
            "password": "short",
            "password_confirm": "other",
            "organization": "",
        },
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) >= {"email", "password_confirm", "organization"}
    assert not User.objects.exists()

    response = client.post(
        "/setup/",
        {
            "email": "a@b.test",
            "password": "12345678",
            "password_confirm": "12345678",
            "organization": "X",
        },
    )
    assert "password" in response.context["form"].errors
    assert not User.objects.exists()


def test_it_closes_setup_once_an_account_exists(client, world):
    assert client.get("/setup/").status_code == 404
    response = client.post(
        "/setup/",
        {
            "email": "evil@x.test",
            "password": "a long enough passphrase",
            "password_confirm": "a long enough passphrase",
            "organization": "Evil",
        },
    )
    assert response.status_code == 404
    assert not User.objects.filter(email="evil@x.test").exists()
