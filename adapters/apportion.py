"""Sharing a per-order amount among the order's items, to the fen (largest-remainder method)."""

from __future__ import annotations

from collections.abc import Sequence


def apportion(total_fen: int, weights: Sequence[int]) -> list[int]:
    """``total_fen`` split in proportion to ``weights``: the parts sum to the total exactly.

    Each part is its exact share rounded down, and the fen left over go one each to the parts
    with the largest remainders (ties to the earlier part), so every part is within one fen of its
    exact share. All-zero weights share the total equally. Amounts and weights are whole numbers.
    """
    if not weights:
        raise ValueError("Nothing to share the amount among.")
    if total_fen < 0 or any(weight < 0 for weight in weights):
        raise ValueError("Amounts and weights cannot be negative.")
    if not any(weights):
        weights = [1] * len(weights)
    whole = sum(weights)
    parts = [total_fen * weight // whole for weight in weights]
    remainders = [total_fen * weight % whole for weight in weights]
    left = total_fen - sum(parts)
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        parts[index] += 1
    return parts
