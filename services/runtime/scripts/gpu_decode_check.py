"""Device check: CUDA-graph decoding gives the same greedy tokens as transformers' eager generate.

Tiny random Mamba on the GPU, fast kernels, left-padded batch of prompts of different lengths.
Prints one JSON line; exits non-zero on a mismatch.
"""

import json
import sys

import torch

from mambalign_runtime import kernels
from mambalign_runtime.decoding import GraphedDecoder
from transformers import MambaConfig, MambaForCausalLM


def main() -> int:
    kernels.install("fast")
    torch.manual_seed(0)
    cfg = MambaConfig(vocab_size=512, hidden_size=256, state_size=16, num_hidden_layers=4, expand=2,
                      bos_token_id=0, eos_token_id=0, pad_token_id=0)
    model = MambaForCausalLM(cfg).cuda().to(torch.bfloat16).eval()
    lengths = [5, 9, 13, 17]
    width = max(lengths)
    ids = torch.zeros(len(lengths), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, width - n:] = torch.randint(1, 512, (n,))
        mask[i, width - n:] = 1
    ids, mask = ids.cuda(), mask.cuda()
    with torch.no_grad():
        eager = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=48, do_sample=False,
                               eos_token_id=-1, pad_token_id=0)[:, width:]
    graphed = GraphedDecoder(model, ids, mask, 0.0).generate(48, -1)
    same = torch.equal(eager.cpu(), graphed.cpu())
    agree = (eager.cpu() == graphed.cpu()).float().mean().item()
    print(json.dumps({"check": "graphed_vs_eager_greedy", "card": torch.cuda.get_device_name(0), "identical": same,
                      "token_agreement": agree}))
    return 0 if agree >= 0.95 else 1


if __name__ == "__main__":
    sys.exit(main())
