"""The gate plan: a gate whose function never reads the regimen's agents is evaluated once per patient."""

from __future__ import annotations

from cds_service.sequencing.gate_fields import reads_parameter
from cds_service.sequencing.gates import GateContext, registered_gates


def _reads(ctx: GateContext, agents: frozenset[str]) -> bool:
    return bool(agents)


def _ignores(ctx: GateContext, agents: frozenset[str]) -> bool:
    return ctx is None


def _reads_in_closure(ctx: GateContext, agents: frozenset[str]) -> bool:
    def inner() -> bool:
        return "sorafenib" in agents

    return inner()


def test_reads_parameter_sees_every_read() -> None:
    assert reads_parameter(_reads, 1)
    assert not reads_parameter(_ignores, 1)
    assert reads_parameter(_reads_in_closure, 1)


def test_unreadable_source_counts_as_reading() -> None:
    assert reads_parameter(len, 1)
    assert reads_parameter(lambda ctx: ctx, 1)


def test_source_that_is_not_the_functions_counts_as_reading() -> None:
    """A file changed under the running process: the lines at the function's place are another function's."""

    def moved(ctx: GateContext, agents: frozenset[str]) -> bool:
        return ctx is None

    assert not reads_parameter(moved, 1)
    moved.__name__ = "another_gate"
    assert reads_parameter(moved, 1)


def test_only_the_regimen_gates_read_the_agents() -> None:
    from cds_service.sequencing.gates import _GATES, _reads_agents

    assert {g for g in registered_gates() if _reads_agents(_GATES[g])} == {"already_received", "wrong_product"}
