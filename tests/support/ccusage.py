"""Comparing our ccusage-shaped JSON with what the real ccusage wrote."""

import pytest


def assert_ccusage_equal(ours: object, theirs: object, path: str = "") -> None:
    """Key for key and item for item; floats (money, rates) within 10^-8, since ccusage adds floats and
    we add exact decimals. `path` names where a difference is."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and set(ours) == set(theirs), path
        for key in theirs:
            assert_ccusage_equal(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_ccusage_equal(a, b, f"{path}[{i}]")
    elif isinstance(theirs, float):
        assert ours == pytest.approx(theirs, abs=1e-8), path
    else:
        assert ours == theirs, path
