import re

import pytest

from controlplane.tenancy.models import AuditEntry, Invitation, Membership, Role

pytestmark = pytest.mark.django_db


def members_url(world, suffix=""):
    return f"/{world.org_a.slug}/settings/members/{suffix}"


def membership(world, user) -> Membership:
    return Membership.objects.get(organization=world.org_a, user=user)


@pytest.mark.parametrize("role", ["owner", "admin", "member", "viewer"])
def test_it_lists_members_to_every_member(client, world, signed_in, role):
    signed_in(world.user(role))
    response = client.get(members_url(world))
    assert response.status_code == 200
    page = response.content.decode()
    for user in (world.owner, world.admin, world.member, world.viewer):
        assert user.email in page
    assert world.outsider.email not in page
    assert ("Invite someone" in page) == (role in ("owner", "admin"))


def test_it_hides_members_from_outsiders(client, world, signed_in):
    signed_in(world.outsider)
    assert client.get(members_url(world)).status_code == 404


def invite(client, world, email="new@a.test", role="member", **extra):
    return client.post(members_url(world, "invite/"), {"email": email, "role": role}, **extra)


def test_it_invites_by_link_shown_once(client, world, signed_in):
    signed_in(world.admin)
    response = invite(client, world, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    link = re.search(r'value="(http://testserver/invite/[^"]+/)"', response.content.decode()).group(
        1
    )
    token = link.rstrip("/").rsplit("/", 1)[1]
    invitation = Invitation.objects.get(email="new@a.test")
    assert token not in str(Invitation.objects.values_list())  # stored hashed only
    assert token not in client.get(members_url(world)).content.decode()  # not shown again
    assert AuditEntry.objects.filter(action="invitation.created", organization=world.org_a).exists()

    client.post("/account/logout/")
    page = client.get(f"/invite/{token}/")
    assert "Create your account" in page.content.decode()
    response = client.post(
        f"/invite/{token}/",
        {"password": "another long passphrase", "password_confirm": "another long passphrase"},
    )
    assert response["Location"] == f"/{world.org_a.slug}/"
    assert Membership.objects.get(user__email="new@a.test").role == Role.MEMBER
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None
    assert client.get(f"/invite/{token}/").status_code == 404  # single use


def test_it_lets_an_existing_account_accept_after_signing_in(client, world, signed_in):
    signed_in(world.owner)
    response = invite(
        client, world, email=world.outsider.email, role="viewer", HTTP_HX_REQUEST="true"
    )
    token = re.search(r"/invite/([^/\"]+)/", response.content.decode()).group(1)
    client.post("/account/logout/")
    assert "Sign in" in client.get(f"/invite/{token}/").content.decode()
    # Someone else's account cannot take it.
    signed_in(world.member)
    response = client.post(f"/invite/{token}/")
    assert "sign in with that address" in response.content.decode()
    signed_in(world.outsider)
    assert client.post(f"/invite/{token}/").status_code == 302
    assert membership(world, world.outsider).role == Role.VIEWER


def test_it_refuses_bad_invitations(client, world, signed_in):
    signed_in(world.admin)
    assert "already a member" in invite(client, world, email=world.viewer.email).content.decode()
    assert "Enter a valid email" in invite(client, world, email="nope").content.decode()
    # Admins cannot hand out the owner role.
    assert invite(client, world, role="owner").context["invite_form"].errors["role"]
    assert not Invitation.objects.exists()


def test_it_forbids_members_and_viewers_to_manage(client, world, signed_in):
    for role in ("member", "viewer"):
        signed_in(world.user(role))
        assert invite(client, world).status_code == 403
        target = membership(world, world.viewer)
        assert (
            client.post(
                members_url(world, f"{target.public_id}/role/"), {"role": "admin"}
            ).status_code
            == 403
        )
        assert client.post(members_url(world, f"{target.public_id}/remove/")).status_code == 403
    assert membership(world, world.viewer).role == Role.VIEWER
    assert not Invitation.objects.exists()


def test_it_changes_roles_in_place(client, world, signed_in):
    signed_in(world.admin)
    target = membership(world, world.viewer)
    response = client.post(
        members_url(world, f"{target.public_id}/role/"), {"role": "member"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith(f'<tr id="member-{target.public_id}"')
    assert membership(world, world.viewer).role == Role.MEMBER
    entry = AuditEntry.objects.get(action="member.role_changed")
    assert entry.data == {"from": "viewer", "to": "member"} and entry.actor == world.admin


def test_it_reserves_the_owner_role_to_owners(client, world, signed_in):
    signed_in(world.admin)
    owner = membership(world, world.owner)
    response = client.post(
        members_url(world, f"{owner.public_id}/role/"), {"role": "member"}, HTTP_HX_REQUEST="true"
    )
    assert "Only owners" in response.content.decode()
    target = membership(world, world.member)
    response = client.post(
        members_url(world, f"{target.public_id}/role/"), {"role": "owner"}, HTTP_HX_REQUEST="true"
    )
    assert "Only owners" in response.content.decode()
    assert membership(world, world.member).role == Role.MEMBER
    assert client.post(members_url(world, f"{owner.public_id}/remove/")).status_code == 302
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_it_keeps_the_last_owner(client, world, signed_in):
    signed_in(world.owner)
    owner = membership(world, world.owner)
    response = client.post(
        members_url(world, f"{owner.public_id}/role/"), {"role": "admin"}, HTTP_HX_REQUEST="true"
    )
    assert "at least one owner" in response.content.decode()
    response = client.post(members_url(world, f"{owner.public_id}/remove/"), HTTP_HX_REQUEST="true")
    assert "at least one owner" in response.content.decode()
    assert membership(world, world.owner).role == Role.OWNER

    # With a second owner, the first may step down.
    second = membership(world, world.admin)
    client.post(members_url(world, f"{second.public_id}/role/"), {"role": "owner"})
    client.post(members_url(world, f"{owner.public_id}/role/"), {"role": "admin"})
    assert membership(world, world.owner).role == Role.ADMIN


def test_it_removes_members_and_audits(client, world, signed_in):
    signed_in(world.owner)
    target = membership(world, world.member)
    response = client.post(
        members_url(world, f"{target.public_id}/remove/"), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and response.content == b""
    assert not Membership.objects.filter(pk=target.pk).exists()
    assert AuditEntry.objects.filter(
        action="member.removed", target_label=world.member.email
    ).exists()
    # The removed person lost access: 404, like any outsider.
    signed_in(world.member)
    assert client.get(f"/{world.org_a.slug}/production/").status_code == 404


def test_it_revokes_invitations(client, world, signed_in):
    signed_in(world.owner)
    response = invite(client, world, HTTP_HX_REQUEST="true")
    token = re.search(r"/invite/([^/\"]+)/", response.content.decode()).group(1)
    invitation = Invitation.objects.get()
    client.post(
        members_url(world).replace("members/", f"invitations/{invitation.public_id}/revoke/")
    )
    assert not Invitation.objects.exists()
    client.post("/account/logout/")
    assert client.get(f"/invite/{token}/").status_code == 404


def test_members_and_viewers_cannot_revoke_invitations(client, world, signed_in):
    signed_in(world.owner)
    invite(client, world)
    invitation = Invitation.objects.get()
    revoke = members_url(world).replace("members/", f"invitations/{invitation.public_id}/revoke/")
    for role in ("member", "viewer"):
        signed_in(world.user(role))
        assert client.post(revoke).status_code == 403
    assert Invitation.objects.filter(pk=invitation.pk).exists()


def test_it_rejects_member_ids_of_another_organization(client, world, signed_in):
    signed_in(world.owner)
    foreign = Membership.objects.get(organization=world.org_b, user=world.outsider)
    assert (
        client.post(
            members_url(world, f"{foreign.public_id}/role/"), {"role": "viewer"}
        ).status_code
        == 404
    )
    assert client.post(members_url(world, f"{foreign.public_id}/remove/")).status_code == 404
    assert Membership.objects.get(pk=foreign.pk).role == Role.OWNER
