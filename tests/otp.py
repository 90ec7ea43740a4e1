"""Compute authenticator-app codes the way a phone would."""

import time
from base64 import b32decode

from django_otp.oath import totp


def code_for_secret(secret_b32: str, *, steps_ahead: int = 0) -> str:
    """The 6-digit code for a base32 secret; steps_ahead=1 is the next 30-second window's code.

    The server accepts one step of clock drift, so the next window's code lets a test sign in
    again without waiting for the clock after a code was just used.
    """
    key = b32decode(secret_b32)
    return f"{totp(key, t0=0, step=30, digits=6, drift=steps_ahead):06d}"


def code_for_device(device, *, steps_ahead: int = 0) -> str:
    key, step, digits = device.bin_key, device.step, device.digits
    code = totp(key, t0=device.t0, step=step, digits=digits, drift=steps_ahead)
    return f"{code:06d}"


def now_window() -> int:
    return int(time.time()) // 30
