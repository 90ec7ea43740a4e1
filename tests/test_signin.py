import re

import pytest
from django.conf import settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from controlplane.accounts.services import backup_codes_regenerate
from tests.conftest import PASSWORD
from tests.otp import code_for_device

pytestmark = pytest.mark.django_db


def enroll(user) -> tuple[TOTPDevice, list[str]]:
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return device, backup_codes_regenerate(user=user)


def post_password(client, email, password=PASSWORD, **extra):
    return client.post("/account/login/", {"email": email, "password": password}, **extra)


def test_it_signs_in_with_the_right_password_only(client, world):
    response = post_password(client, world.owner.email, "wrong password")
    assert response.status_code == 200
    assert "do not match an account" in response.content.decode()
    assert client.get("/org-a/production/").status_code == 302

    response = post_password(client, "OWNER@a.test")
    assert response.status_code == 302
    assert client.get("/org-a/production/").status_code == 200


def test_it_gives_the_same_answer_for_unknown_accounts(client, world):
    unknown = post_password(client, "nobody@a.test", "whatever").content.decode()
    wrong = post_password(client, world.owner.email, "whatever").content.decode()
    assert "do not match an account" in unknown
    assert "do not match an account" in wrong


def test_it_throttles_failures_per_account_even_with_the_right_password(client, world):
    for _ in range(settings.SIGNIN_MAX_FAILURES_PER_ACCOUNT):
        post_password(client, world.owner.email, "wrong")
    response = post_password(client, world.owner.email)
    assert response.status_code == 200
    assert "Too many failed attempts" in response.content.decode()
    # Unknown accounts lock the same way: a lockout reveals nothing.
    for _ in range(settings.SIGNIN_MAX_FAILURES_PER_ACCOUNT):
        post_password(client, "ghost@a.test", "wrong")
    assert (
        "Too many failed attempts"
        in post_password(client, "ghost@a.test", "wrong").content.decode()
    )
    # Another account from another address is unaffected.
    assert post_password(client, world.admin.email, REMOTE_ADDR="10.0.0.9").status_code == 302


def test_it_throttles_failures_per_client_address(client, world, settings):
    settings.SIGNIN_MAX_FAILURES_PER_ADDRESS = 3
    for n in range(3):
        post_password(client, f"spray{n}@a.test", "wrong", REMOTE_ADDR="10.1.1.1")
    response = post_password(client, world.owner.email, REMOTE_ADDR="10.1.1.1")
    assert "Too many failed attempts" in response.content.decode()
    assert post_password(client, world.owner.email, REMOTE_ADDR="10.1.1.2").status_code == 302


def test_it_rotates_the_session_key_on_sign_in_and_ends_it_on_sign_out(client, world):
    client.get("/account/login/")
    client.session["marker"] = 1
    before = client.session.session_key
    post_password(client, world.owner.email)
    after = client.session.session_key
    assert after and after != before
    assert client.post("/account/logout/").status_code == 302
    assert client.get("/org-a/production/").status_code == 302
    # The old session key is dead server-side too.
    from django.contrib.sessions.models import Session

    assert not Session.objects.filter(session_key=after).exists()


def test_it_asks_for_the_code_after_the_password(client, world):
    device, _codes = enroll(world.owner)
    response = post_password(client, world.owner.email)
    assert response["Location"] == "/account/login/verify/"
    # Password alone signs nobody in.
    assert client.get("/org-a/production/").status_code == 302
    assert "_auth_user_id" not in client.session

    response = client.post("/account/login/verify/", {"code": "000000"})
    assert "not valid" in response.content.decode()
    response = client.post("/account/login/verify/", {"code": code_for_device(device)})
    assert response.status_code == 302
    assert client.get("/org-a/production/").status_code == 200


def test_it_refuses_a_reused_code(client, world):
    device, _codes = enroll(world.owner)
    code = code_for_device(device)
    post_password(client, world.owner.email)
    assert client.post("/account/login/verify/", {"code": code}).status_code == 302
    client.post("/account/logout/")
    post_password(client, world.owner.email)
    response = client.post("/account/login/verify/", {"code": code})
    assert response.status_code == 200
    assert "already used" in response.content.decode()


def test_it_accepts_each_backup_code_once(client, world):
    _device, codes = enroll(world.owner)
    assert len(codes) == 10 and len(set(codes)) == 10
    post_password(client, world.owner.email)
    response = client.post("/account/login/verify/", {"code": codes[0].upper().replace("-", "")})
    assert response.status_code == 302
    client.post("/account/logout/")
    post_password(client, world.owner.email)
    assert client.post("/account/login/verify/", {"code": codes[0]}).status_code == 200
    assert client.post("/account/login/verify/", {"code": codes[1]}).status_code == 302


def test_it_throttles_wrong_codes(client, world):
    device, _ = enroll(world.owner)
    post_password(client, world.owner.email)
    for _ in range(settings.SIGNIN_MAX_FAILURES_PER_ACCOUNT):
        client.post("/account/login/verify/", {"code": "123456"})
    response = client.post("/account/login/verify/", {"code": code_for_device(device)})
    assert "Too many failed attempts" in response.content.decode()


def test_it_expires_a_pending_second_factor(client, world, monkeypatch):
    device, _ = enroll(world.owner)
    post_password(client, world.owner.email)
    session = client.session
    session["signin_pending"]["at"] -= settings.SIGNIN_SECOND_FACTOR_SECONDS + 1
    session.save()
    response = client.post("/account/login/verify/", {"code": code_for_device(device)})
    assert response["Location"] == "/account/login/"


def test_it_sends_members_of_a_two_factor_organization_to_enrollment(client, world, signed_in):
    world.org_a.require_two_factor = True
    world.org_a.save()
    signed_in(world.member)
    response = client.get("/org-a/production/")
    assert response["Location"] == "/account/security/"
    assert "Org A requires two-factor" in client.get("/account/security/").content.decode()
    # Org B does not require it: the outsider still gets in without a device.
    signed_in(world.outsider)
    assert client.get("/org-b/production/").status_code == 200


def test_it_enrolls_totp_with_a_confirmation_code(client, world, signed_in):
    from tests.otp import code_for_secret

    signed_in(world.member)
    assert client.post("/account/security/totp/start/").status_code == 302
    page = client.get("/account/security/totp/")
    secret = page.context["secret"]
    assert "<svg" in page.content.decode()
    assert not TOTPDevice.objects.filter(user=world.member, confirmed=True).exists()

    bad = client.post("/account/security/totp/", {"code": "000000"})
    assert "not valid" in bad.content.decode()
    assert not TOTPDevice.objects.filter(user=world.member, confirmed=True).exists()

    done = client.post("/account/security/totp/", {"code": code_for_secret(secret)})
    assert done.status_code == 200
    assert len(done.context["codes"]) == 10
    assert TOTPDevice.objects.filter(user=world.member, confirmed=True).count() == 1
    # This session presented the code, so it stays in.
    assert client.get("/org-a/production/").status_code == 200


def test_it_makes_an_old_unverified_session_present_the_new_factor(client, world, signed_in):
    signed_in(world.member)
    enroll(world.member)  # enrolled from another session
    response = client.get("/org-a/production/")
    assert response.status_code == 302
    assert response["Location"].startswith("/account/login/verify/?next=")


def test_it_keeps_two_factor_on_while_an_organization_requires_it(client, world, signed_in):
    device, _ = enroll(world.owner)
    world.org_a.require_two_factor = True
    world.org_a.save()
    client.post("/account/login/", {"email": world.owner.email, "password": PASSWORD})
    client.post("/account/login/verify/", {"code": code_for_device(device)})
    client.post("/account/security/disable/", {"password": PASSWORD})
    assert TOTPDevice.objects.filter(user=world.owner).exists()

    world.org_a.require_two_factor = False
    world.org_a.save()
    client.post("/account/security/disable/", {"password": "wrong"})
    assert TOTPDevice.objects.filter(user=world.owner).exists()
    client.post("/account/security/disable/", {"password": PASSWORD})
    assert not TOTPDevice.objects.filter(user=world.owner).exists()


def test_it_ignores_an_offsite_next_url(client, world):
    response = client.post(
        "/account/login/",
        {"email": world.owner.email, "password": PASSWORD, "next": "https://evil.test/"},
    )
    assert response["Location"] == "/"


def test_it_explains_the_backoff_after_a_wrong_code(client, world, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 1
    device, _ = enroll(world.owner)
    post_password(client, world.owner.email)
    client.post("/account/login/verify/", {"code": "000000"})
    response = client.post("/account/login/verify/", {"code": code_for_device(device)})
    assert "Wait a few seconds" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_it_changes_the_password_with_the_old_one_and_keeps_this_session(client, world, signed_in):
    signed_in(world.owner)
    bad = client.post(
        "/account/password/",
        {
            "old_password": "wrong",
            "new_password1": "n3w-Passw0rd!x",
            "new_password2": "n3w-Passw0rd!x",
        },
    )
    assert bad.status_code == 200 and "incorrectly" in bad.content.decode()
    mismatch = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": "n3w-Passw0rd!x", "new_password2": "other-1!"},
    )
    assert mismatch.status_code == 200
    world.owner.refresh_from_db()
    assert world.owner.check_password(PASSWORD)
    good = client.post(
        "/account/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "n3w-Passw0rd!x",
            "new_password2": "n3w-Passw0rd!x",
        },
    )
    assert good.status_code == 302
    world.owner.refresh_from_db()
    assert world.owner.check_password("n3w-Passw0rd!x")
    assert client.get("/account/security/").status_code == 200  # this session stays signed in
    client.post("/account/logout/")
    assert post_password(client, world.owner.email).status_code == 200  # the old one is refused


def test_regenerating_backup_codes_retires_the_old_ones(client, world):
    device, old_codes = enroll(world.owner)
    post_password(client, world.owner.email)
    client.post("/account/login/verify/", {"code": code_for_device(device)})
    assert client.get("/account/security/backup-codes/").status_code == 405  # POST only
    page = client.post("/account/security/backup-codes/").content.decode()
    new_codes = re.findall(r"\b[a-hj-km-np-z2-9]{5}-[a-hj-km-np-z2-9]{5}\b", page)
    assert len(set(new_codes)) == 10 and not set(new_codes) & set(old_codes)
    client.post("/account/logout/")
    post_password(client, world.owner.email)
    assert client.post("/account/login/verify/", {"code": old_codes[0]}).status_code == 200
    assert client.post("/account/login/verify/", {"code": new_codes[0]}).status_code == 302
