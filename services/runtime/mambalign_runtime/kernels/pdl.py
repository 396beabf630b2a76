"""Programmatic dependent launch for the decode step's kernels (_launch.decode_pdl)."""

import triton
import triton.language as tl
from triton.language.extra.cuda import gdc_launch_dependents, gdc_wait


@triton.jit
def pdl_enter(PDL: tl.constexpr):
    """Under programmatic dependent launch: wait for the kernels before this one (their outputs are
    this one's inputs), then let the next kernel start launching. A kernel may load before it what
    the kernel just before it does not write: everything earlier has finished by then."""
    if PDL:
        gdc_wait()
        gdc_launch_dependents()
