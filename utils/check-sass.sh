#!/usr/bin/env bash
#===- utils/check-sass.sh - the tensor-core instructions in cubins --------===#
#
# Disassembles each cubin with cuobjdump (on a machine with the CUDA toolkit,
# e.g. the H100 machine; the cubins are built by fp4-compile --emit=cubin)
# and checks that the SASS holds the expected instruction:
#   utils/check-sass.sh OMMA.SF matrix.cubin [more.cubin ...]
# Prints, per cubin and kernel, how many times it occurs and the opcodes
# around it; exits non-zero if a kernel lacks it.
#
#===----------------------------------------------------------------------===#
set -euo pipefail
want=$1
shift
status=0
for cubin in "$@"; do
  sass=$(cuobjdump -sass "$cubin")
  echo "== $cubin ($(cuobjdump -lelf "$cubin" 2>/dev/null | head -1 || true))"
  # Kernels and their count of the wanted opcode.
  echo "$sass" | awk -v want="$want" '
    /Function :/ { if (name != "") report(); name = $3; n = 0; next }
    index($0, want) { n++ }
    END { if (name != "") report() }
    function report() {
      printf "  %-40s %s x%d\n", name, want, n
      if (n == 0) bad = 1
    }
    END { exit bad }' || status=1
  echo "  opcodes with MMA in their name and tensor-memory (UTC*) opcodes:"
  echo "$sass" | grep -oE '\b([A-Z0-9_.]*MMA[A-Z0-9_.]*|UTC[A-Z0-9_.]*)\b' | sort | uniq -c | sed 's/^/   /'
done
exit $status
