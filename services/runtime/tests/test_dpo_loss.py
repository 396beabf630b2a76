"""dpo loss — sigmoid / ipo / hinge against hand-computed values."""

import math

import pytest
import torch

from mambalign_runtime.dpo_loss import dpo_loss

# pi_c - pi_r = (-3) - (-5) = 2; ref_c - ref_r = (-4) - (-4.5) = 0.5; h = 1.5
PC, PR, RC, RR = torch.tensor([-3.0]), torch.tensor([-5.0]), torch.tensor([-4.0]), torch.tensor([-4.5])


def test_sigmoid():
    losses, chosen, rejected = dpo_loss(PC, PR, RC, RR, beta=0.1)
    assert losses.item() == pytest.approx(-math.log(1 / (1 + math.exp(-0.15))), abs=1e-6)
    assert chosen.item() == pytest.approx(0.1 * (-3 + 4), abs=1e-6)
    assert rejected.item() == pytest.approx(0.1 * (-5 + 4.5), abs=1e-6)


def test_ipo():
    losses, _, _ = dpo_loss(PC, PR, RC, RR, beta=0.5, loss_type="ipo")
    assert losses.item() == pytest.approx((1.5 - 1.0) ** 2, abs=1e-6)


def test_hinge():
    losses, _, _ = dpo_loss(PC, PR, RC, RR, beta=0.5, loss_type="hinge")
    assert losses.item() == pytest.approx(1 - 0.75, abs=1e-6)
    losses, _, _ = dpo_loss(PC, PR, RC, RR, beta=1.0, loss_type="hinge")
    assert losses.item() == 0.0


def test_sigmoid_gradient_prefers_chosen():
    pc = torch.tensor([-3.0], requires_grad=True)
    pr = torch.tensor([-5.0], requires_grad=True)
    dpo_loss(pc, pr, RC, RR, beta=0.1)[0].sum().backward()
    assert pc.grad.item() < 0 < pr.grad.item()


def test_unknown_loss_type_lists_valid():
    with pytest.raises(ValueError, match="sigmoid, ipo, hinge"):
        dpo_loss(PC, PR, RC, RR, beta=0.1, loss_type="kto")


def test_rpo_nll_is_the_mean_chosen_token_nll():
    import torch
    from mambalign_runtime.dpo_loss import rpo_nll

    # Summed log-probs -6 over 3 tokens and -2 over 4 tokens: per-token NLL 2 and 0.5.
    got = rpo_nll(torch.tensor([-6.0, -2.0]), torch.tensor([3.0, 4.0]))
    assert torch.allclose(got, torch.tensor([2.0, 0.5]))
