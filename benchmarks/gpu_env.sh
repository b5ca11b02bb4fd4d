# Sourced by benchmarks/gpu_*.sh on the device machine (carry: `python benchmarks/gpu_carry.py
# [--serve] [CLIP ...]` prints the list; all of .gpu and the tree no longer fit), after they set
# $out: installs what the GPU image lacks from .gpu/ (made on the dev machine by the
# wheelhouse script: pydantic, gsplat, protobuf 4.25, starlette/uvicorn/websockets wheels,
# and mpav.tar.xz = mediapipe 0.10.14 + PyAV installed trees, hand/palm/holistic/objectron
# models pruned to fit the 64 MiB a call may carry) into /tmp/site, sets the environment,
# and defines warm_gsplat (compiles gsplat's CUDA kernels, ~55-90 s on a fresh machine,
# so that no timed step pays for it) and stage_dir.
mkdir -p "$out" /tmp/site /tmp/x
mkdir -p /tmp/wheels
cp .gpu/*.whl /tmp/wheels/ 2>/dev/null || true  # carry [".gpu"] (when it fits) ...
[ -f .gpu/wheels.tar ] && tar xf .gpu/wheels.tar -C /tmp/wheels  # ... or the parts: benchmarks/gpu_carry.py
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site /tmp/wheels/*.whl
tar xJf .gpu/mpav.tar.xz -C /tmp/x && cp -r /tmp/x/mp/. /tmp/x/av/. /tmp/site/
export PYTHONPATH=/tmp/site:src PYTHONUNBUFFERED=1 TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=16
export AVATARZOO_CACHE=/tmp/azcache NCCL_NVLS_ENABLE=0

warm_gsplat() {
  python3 - <<'PY'
import time, torch, gsplat
t = time.time()
m = torch.randn(100, 3, device="cuda"); m[:, 2] = m[:, 2].abs() + 3
q = torch.nn.functional.normalize(torch.randn(100, 4, device="cuda"), dim=-1)
gsplat.rasterization(m, q, torch.full((100, 3), 0.05, device="cuda"), torch.ones(100, device="cuda"),
                     torch.rand(100, 3, device="cuda"), torch.eye(4, device="cuda")[None],
                     torch.tensor([[[100., 0, 32], [0, 100., 32], [0, 0, 1]]], device="cuda"), 64, 64)
torch.cuda.synchronize(); print(f"gsplat kernels ready in {time.time() - t:.1f} s")
PY
}

# stage_dir RECIPE STAGE PROFILE: that stage's output directory in $AVATARZOO_CACHE (from
# the plan's keys)
stage_dir() {
  python3 - "$1" "$2" "$3" <<'PY'
import os, sys
from avatarzoo.recipe import load_recipe
from avatarzoo.stages.graph import plan_stages
recipe, stage, profile = sys.argv[1:]
key = {s.name: s.key for s in plan_stages(load_recipe(recipe, profile=profile))}[stage]
print(f"{os.environ['AVATARZOO_CACHE']}/stages/{stage}/{key}")
PY
}
