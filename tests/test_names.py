"""The generated names computed in Python (constructs_ivsrt/_names.py) are aws-cdk-lib's own."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from constructs_ivsrt._names import generated_name

# Construct ids as users write them, and the ones the algorithm treats specially.
IDS = st.one_of(
    st.sampled_from(["Default", "Resource", "Stage", "StageStage", "a-b_c.d", "Live", "x" * 70]),
    st.text(alphabet="AbZz09-_. /", min_size=1, max_size=40).filter(lambda s: "/" not in s),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.lists(IDS, min_size=0, max_size=4),
    leaf=IDS,
    in_stage=st.booleans(),
    stack_name=st.one_of(st.none(), st.sampled_from(["Video-Prod", "a" * 100])),
    max_length=st.sampled_from([128, 40, 9]),
    separator=st.sampled_from(["-", ""]),
)
# A component ending the one before it is dropped from the readable part; "Default" is dropped
# from both parts, "Resource" from the readable part only; a long path is cut in the middle.
@example(path=["StageStage", "Stage"], leaf="Stage", in_stage=False, stack_name=None, max_length=128, separator="-")
@example(path=["Default", "Resource"], leaf="Live", in_stage=True, stack_name=None, max_length=128, separator="")
@example(path=["x" * 70, "y" * 70], leaf="Live", in_stage=False, stack_name="a" * 100, max_length=128, separator="-")
@example(path=[], leaf="Live", in_stage=False, stack_name=None, max_length=9, separator="-")
def test_generated_names_are_the_librarys(path, leaf, in_stage, stack_name, max_length, separator):
    app = cdk.App()
    parent: Construct = cdk.Stage(app, "Prod") if in_stage else app
    scope: Construct = cdk.Stack(parent, "Stack", stack_name=stack_name)
    for id in path:
        scope = Construct(scope, id)
    if scope.node.try_find_child(leaf) is not None:
        return
    expected = cdk.Names.unique_resource_name(Construct(scope, leaf), max_length=max_length, separator=separator)
    assert generated_name(scope, leaf, max_length=max_length, separator=separator) == expected
