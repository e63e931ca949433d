"""EC2 id prefixes: the longest known prefix wins, and an id is more than its prefix."""

from __future__ import annotations

import itertools
import random

from resolvers.aws.ids import EC2_PREFIXES, ec2_prefix


def _longest(resource_id: str) -> str | None:
    """The reference: every known prefix, longest first."""
    for prefix in sorted(EC2_PREFIXES, key=len, reverse=True):
        if resource_id.startswith(prefix) and len(resource_id) > len(prefix):
            return prefix
    return None


def test_every_prefix_ends_with_a_dash() -> None:
    assert all(prefix.endswith("-") for prefix in EC2_PREFIXES)


def test_ec2_prefix_is_the_longest_known_prefix() -> None:
    heads = [*EC2_PREFIXES, "", "-", "--", "x", "vpc", "vpce-svc", "tgw-rtb", "a-b-c-"]
    tails = ["", "-", "0", "abc", "-x", "svc-", "svc-1", "attach-", "attach-9", "pool-2", "a-b"]
    ids = [head + tail for head, tail in itertools.product(heads, tails)]
    draw = random.Random(7)
    ids += ["".join(draw.choices("-iasgvpcebt0", k=draw.randint(0, 12))) for _ in range(20_000)]
    for resource_id in ids:
        assert ec2_prefix(resource_id) == _longest(resource_id), resource_id
    assert ec2_prefix("vpce-svc-0abc") == "vpce-svc-" and ec2_prefix("vpce-0abc") == "vpce-"
    assert ec2_prefix("i-") is None and ec2_prefix("sg-1") == "sg-"
