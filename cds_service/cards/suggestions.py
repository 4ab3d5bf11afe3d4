"""One-click replacements any CDS Hooks client can apply: the selected draft is updated in place.

Clients differ in how much of a suggestion they apply; the CDS Hooks sandbox applies only the first
action, and only a medication with ``coding[0].code``. So the first action always places the suggested
drug: for a one-agent alternative a single ``update`` of the selected draft (same ``resourceId``, new
medication); for a multi-agent regimen the draft is updated with the first agent and the others are
created. Every suggested medication carries the knowledge's order code (a clinical drug, dose-form group or
ingredient, named as such); an agent with no known code is drafted as text, and the card says that it must
be placed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from fhir.resources.R4B.medicationrequest import MedicationRequest

from cds_service.cards.models import Action
from cds_service.sequencing.knowledge import Knowledge


@dataclass(frozen=True, slots=True)
class Replacement:
    """The actions of one "replace with" suggestion, and the agents it could only draft as text."""

    actions: list[Action]
    by_hand: tuple[str, ...]


def medication_concept(agent: str, knowledge: Knowledge) -> dict[str, object]:
    """The CodeableConcept of a suggested order: the agent's order code, else its ingredient code, else text."""
    spec = knowledge.terminology.agents[agent]
    system = knowledge.terminology.rxnorm_system
    if spec.order_coding is not None:
        coding = spec.order_coding
        return {"text": coding.display, "coding": [{"system": system, "code": coding.code, "display": coding.display}]}
    if spec.rxnorm_ingredient:
        return {"text": agent, "coding": [{"system": system, "code": spec.rxnorm_ingredient, "display": agent}]}
    return {"text": agent}


def is_coded(agent: str, knowledge: Knowledge) -> bool:
    spec = knowledge.terminology.agents[agent]
    return spec.order_coding is not None or spec.rxnorm_ingredient is not None


def _medication_request(agent: str, knowledge: Knowledge, patient_id: str, draft_id: str | None) -> dict[str, object]:
    resource = MedicationRequest.model_validate(
        {
            "resourceType": "MedicationRequest",
            **({"id": draft_id} if draft_id else {}),
            "status": "draft",
            "intent": "order",
            "subject": {"reference": f"Patient/{patient_id}"},
            "medicationCodeableConcept": medication_concept(agent, knowledge),
        }
    )
    return resource.model_dump(mode="json", exclude_none=True)


def _name(agent: str, knowledge: Knowledge) -> str:
    concept = medication_concept(agent, knowledge)
    return str(concept["text"])


def replacement_actions(
    order_references: tuple[str, ...], agents: tuple[str, ...], knowledge: Knowledge, patient_id: str
) -> Replacement:
    """Replace the selected draft order(s) with ``agents``; the first action places the first (coded) agent.

    The selected ``MedicationRequest`` is updated in place (same id); any other kind of draft (a DSTU2
    ``MedicationOrder``) cannot become a MedicationRequest, so the new order is created first and the old
    draft deleted after. Further agents are created; further selected drafts are deleted last.
    """
    ordered = sorted(agents, key=lambda agent: not is_coded(agent, knowledge))  # stable: coded agents first
    first, *others = ordered
    target = order_references[0] if order_references else None
    resource_type, _, draft_id = (target or "").partition("/")
    actions: list[Action] = []
    leftovers = list(order_references[1:])
    if target and resource_type == "MedicationRequest" and draft_id:
        actions.append(
            Action(
                type="update",
                description=f"Change the draft order to {_name(first, knowledge)}",
                resourceId=target,
                resource=_medication_request(first, knowledge, patient_id, draft_id),
            )
        )
    else:
        actions.append(
            Action(
                type="create",
                description=f"Draft an order for {_name(first, knowledge)}",
                resource=_medication_request(first, knowledge, patient_id, None),
            )
        )
        leftovers = list(order_references)
    actions += [
        Action(
            type="create",
            description=f"Draft an order for {_name(agent, knowledge)}",
            resource=_medication_request(agent, knowledge, patient_id, None),
        )
        for agent in others
    ]
    actions += [
        Action(type="delete", description=f"Remove the draft order {reference}", resourceId=reference)
        for reference in leftovers
    ]
    return Replacement(actions, tuple(agent for agent in ordered if not is_coded(agent, knowledge)))


def by_hand_note(agents: tuple[str, ...]) -> str | None:
    """The card's line for agents it could not code: their suggested orders are text only, placed by hand."""
    if not agents:
        return None
    names = " and ".join(agents)
    return f"No orderable code is known for {names}: its suggested order is text only and must be placed by hand."
