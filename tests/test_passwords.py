"""Passwords are hashed with Argon2id at the configured cost; older PBKDF2 hashes still log in and are
re-hashed on the way."""

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher, check_password, identify_hasher, make_password

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_new_passwords_are_argon2id_with_one_lane_and_46_mib():
    encoded = make_password("learn-fractions-1")
    assert encoded.startswith("argon2$argon2id$v=19$m=47104,t=1,p=1$")
    assert check_password("learn-fractions-1", encoded) and not check_password("learn-fractions-2", encoded)
    assert identify_hasher(encoded).must_update(encoded) is False


def test_a_pbkdf2_password_still_logs_in_and_is_rehashed(client):
    user = UserFactory(username="old-timer")
    user.password = PBKDF2PasswordHasher().encode("teach-fractions-1", "saltsaltsalt", iterations=1000)
    user.save(update_fields=["password"])
    resp = client.post("/accounts/login/", {"username": "old-timer", "password": "teach-fractions-1"})
    assert resp.status_code == 302
    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$")
    assert client.post("/accounts/login/", {"username": "old-timer", "password": "wrong"}).status_code == 200
