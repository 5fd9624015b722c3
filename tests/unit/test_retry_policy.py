"""RetryPolicy: retry n waits in [base·2ⁿ, base·2ⁿ⁺¹), capped; windows never overlap; the retry budget."""
from __future__ import annotations

import pytest

from jobs.retry_policy import RetryPolicy

LOW = lambda: 0.0  # noqa: E731 - the smallest value random.random() can return
HIGH = lambda: 0.999999  # noqa: E731 - close to the largest
RANDS = [LOW, lambda: 0.25, lambda: 0.5, lambda: 0.75, HIGH]

POLICIES = [
    RetryPolicy(max_retries=5, base_s=1.0, max_s=300.0),  # the defaults
    RetryPolicy(max_retries=5, base_s=1.5, max_s=300.0),
    RetryPolicy(max_retries=5, base_s=3.0, max_s=100.0),
]


def policy_id(policy: RetryPolicy) -> str:
    return f"base{policy.base_s:g}-max{policy.max_s:g}"


def uncapped_retries(policy: RetryPolicy) -> range:
    """Retry numbers n whose successor n+1 can still wait less than the cap."""
    n = 0
    while policy.base_s * 2 ** (n + 2) < policy.max_s:
        n += 1
    return range(n)


@pytest.mark.parametrize("policy", POLICIES, ids=policy_id)
@pytest.mark.parametrize("n", range(12))
def test_delay_lies_in_its_window_and_never_below_one_second(policy: RetryPolicy, n: int) -> None:
    low = min(policy.max_s, policy.base_s * 2**n)
    high = min(policy.max_s, policy.base_s * 2 ** (n + 1))
    for rand in RANDS:
        delay = policy.delay(n, rand=rand)
        assert 1 <= low <= delay <= high, (n, rand())
    assert policy.delay(n, rand=LOW) == low


def test_default_policy_first_delays() -> None:
    policy = POLICIES[0]
    assert [policy.delay(n, rand=LOW) for n in range(6)] == [1, 2, 4, 8, 16, 32]
    assert [round(policy.delay(n, rand=lambda: 0.5), 3) for n in range(4)] == [1.5, 3, 6, 12]


@pytest.mark.parametrize("n", [9, 10, 20, 60, 500])
def test_delay_is_capped_at_max_s(n: int) -> None:
    policy = RetryPolicy(max_retries=1000, base_s=1.0, max_s=300.0)
    for rand in RANDS:
        assert policy.delay(n, rand=rand) == 300


def test_delay_stays_capped_for_very_high_retry_numbers() -> None:
    policy = RetryPolicy(max_retries=5000, base_s=1.0, max_s=300.0)
    assert policy.delay(1024, rand=LOW) == policy.delay(100_000, rand=HIGH) == 300


@pytest.mark.parametrize("policy", POLICIES, ids=policy_id)
def test_delay_strictly_grows_from_one_retry_to_the_next_below_the_cap(policy: RetryPolicy) -> None:
    assert len(uncapped_retries(policy)) >= 3
    for n in uncapped_retries(policy):
        for this_rand in RANDS:
            for next_rand in RANDS:
                later, earlier = policy.delay(n + 1, rand=next_rand), policy.delay(n, rand=this_rand)
                assert later > earlier, (n, this_rand(), next_rand())


@pytest.mark.parametrize(("base_s", "max_s"), [(0.5, 10.0), (0.0, 10.0), (5.0, 2.0)])
def test_a_base_below_one_second_or_above_the_cap_is_refused(base_s: float, max_s: float) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=1, base_s=base_s, max_s=max_s)


def test_can_retry_until_the_budget_is_spent() -> None:
    policy = RetryPolicy(max_retries=2, base_s=1.0, max_s=300.0)
    assert [policy.can_retry(n) for n in range(4)] == [True, True, False, False]


def test_no_retry_with_a_zero_budget() -> None:
    assert RetryPolicy(max_retries=0, base_s=1.0, max_s=300.0).can_retry(0) is False
