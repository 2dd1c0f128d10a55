#!/usr/bin/env bash
# Issue 17's GPU run in one command: exactness of backend="torch" on the GPU against GUDHI on the
# machine's CPU, then the timings of benchmarks/bench_ph_gpu.py (256^2 tiles/s against GUDHI on
# all cores, 4096^2 images/s, peak memory per pixel, time per stage).  Sized for the lent H200
# machine (Python 3.12, torch cu13x, no GUDHI): about 3-5 minutes.
#
# GUDHI travels as a wheel.  Once, in the repository root of the checkout the device tool sends:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl gudhi==3.13.0
# (GUDHI 3.11+ publishes manylinux_2_28 wheels only: with manylinux2014 alone pip finds 3.10.1.)
# Then: device run  command="bash benchmarks/device_ph_gpu.sh"  carry=[".whl"]  timeout_s=600
# Figures land in $OUT (bench_ph_gpu.json, bench_ph_gpu.log, pytest_cuda.log).
set -uo pipefail
OUT=${OUT:-/tmp/bench_ph_gpu}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/gudhi-*.whl || { echo "no GUDHI wheel in .whl/ (see the header)"; exit 2; }
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 SHAPEKIT_PROGRESS=0
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, gudhi, numpy; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'gudhi', gudhi.__version__, 'numpy', numpy.__version__, 'cores', __import__('os').cpu_count())"
# the CUDA test of the test suite (CPU == CUDA on 300 quantised tiles, both filtrations)
timeout 120 python3 -m pytest -q -p no:cacheprovider tests/test_topology_torch.py -k cuda \
    2>&1 | tee "$OUT/pytest_cuda.log"
timeout 420 python3 benchmarks/bench_ph_gpu.py --device cuda --repeats 3 --batches 1024,4096 \
    --json "$OUT/bench_ph_gpu.json" 2>&1 | tee "$OUT/bench_ph_gpu.log"
