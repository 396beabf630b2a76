"""recipe lists — the names `recipe check` accepts (core/src/recipe/stage-keys.ts) are the ones the
runtime builds, so a recipe that passes the check is not refused by the runtime hours later."""

import re

import pytest

from mambalign_runtime.optim import OPTIMIZERS
from mambalign_runtime.precision import TORCH_DTYPES
from mambalign_runtime.train_args import DPO_LOSS_TYPES, SCHEDULERS

from conftest import REPO_ROOT

STAGE_KEYS = (REPO_ROOT / "services/core/src/recipe/stage-keys.ts").read_text()


def ts_list(name: str) -> set[str]:
    match = re.search(rf"export const {name} = \[(.*?)\] as const", STAGE_KEYS, re.S)
    assert match, f"{name} not found in stage-keys.ts"
    return set(re.findall(r'"([^"]+)"', match.group(1)))


@pytest.mark.parametrize("name,ours", [("OPTIMIZERS", OPTIMIZERS), ("LR_SCHEDULERS", SCHEDULERS),
                                       ("DPO_LOSSES", DPO_LOSS_TYPES), ("TORCH_DTYPES", TORCH_DTYPES)])
def test_recipe_accepts_exactly_what_the_runtime_builds(name, ours):
    assert ts_list(name) == set(ours)
