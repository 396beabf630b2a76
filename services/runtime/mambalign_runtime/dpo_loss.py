"""DPO losses on summed completion log-probs (a pure function, tested alone)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSS_TYPES = ("sigmoid", "ipo", "hinge")


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, reference_chosen: torch.Tensor,
             reference_rejected: torch.Tensor, beta: float, loss_type: str = "sigmoid"
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-pair losses and the implicit rewards `beta * (policy - reference)` of chosen and rejected.

    h = (pi_c - pi_r) - (ref_c - ref_r);  sigmoid: -logsigmoid(beta*h);  ipo: (h - 1/(2*beta))^2;
    hinge: relu(1 - beta*h).  All inputs have shape (pairs,).
    """
    h = (policy_chosen - policy_rejected) - (reference_chosen - reference_rejected)
    if loss_type == "sigmoid":
        losses = -F.logsigmoid(beta * h)
    elif loss_type == "ipo":
        losses = (h - 1 / (2 * beta)) ** 2
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * h)
    else:
        raise ValueError(f"unknown DPO loss_type {loss_type!r} (valid: {', '.join(LOSS_TYPES)})")
    chosen_rewards = beta * (policy_chosen - reference_chosen).detach()
    rejected_rewards = beta * (policy_rejected - reference_rejected).detach()
    return losses, chosen_rewards, rejected_rewards


def rpo_nll(policy_chosen: torch.Tensor, chosen_tokens: torch.Tensor) -> torch.Tensor:
    """Per-pair mean negative log-likelihood of the chosen completion (TRL's RPO term, weighted by rpo_alpha).

    DPO alone only widens the chosen-rejected gap and can lower the chosen answer's likelihood;
    this term keeps it likely. Shapes (pairs,).
    """
    return -policy_chosen / chosen_tokens.clamp(min=1)
