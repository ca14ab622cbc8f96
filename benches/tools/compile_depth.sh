#!/usr/bin/env bash
# Release build time and training-step time of a stack of LAYERS `tanh(h · w + b)` layers
# (8 wide), typed throughout against `.boxed()` after each layer (README, "Compile times").
#
#     benches/tools/compile_depth.sh [LAYERS]      # default 25
#
# Builds a throwaway crate in a temporary folder (with its own target folder, and this
# checkout's Cargo.lock, so the same dependency versions) that depends on this checkout by
# path; the first build also compiles Wyrm and its dependencies, so each variant is built
# once to warm up and then timed on a rebuild of its own source file: the figure is the
# program's own build, Wyrm already built. Needs `bc` and GNU `date`.
set -euo pipefail
layers=${1:-25}
repo=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/src/bin"
cp "$repo/Cargo.lock" "$dir/"
export CARGO_TARGET_DIR="$dir/target"
cat >"$dir/Cargo.toml" <<EOF
[package]
name = "compile_depth"
version = "0.0.0"
edition = "2021"

[dependencies]
wyrm = { path = "$repo" }
EOF
for variant in typed boxed; do
  box=""
  [ "$variant" = boxed ] && box=".boxed()"
  {
    echo "use wyrm::*;"
    echo "fn main() {"
    echo "    let w = ParameterNode::new(random_matrix(8, 8));"
    echo "    let b = ParameterNode::new(random_matrix(1, 8));"
    echo "    let h = InputNode::new(random_matrix(1, 8))$box;"
    for _ in $(seq "$layers"); do
      echo "    let h = (h.dot(&w) + b.clone()).tanh()$box;"
    done
    cat <<'EOF'
    let mut loss = h.scalar_sum();
    let mut opt = SGD::new(0.001, loss.parameters());
    let mut step = || {
        loss.forward();
        loss.backward(1.0);
        opt.step();
        opt.zero_gradients();
    };
    (0..1000).for_each(|_| step());
    let mut times: Vec<f64> = (0..9)
        .map(|_| {
            let t = std::time::Instant::now();
            (0..2000).for_each(|_| step());
            t.elapsed().as_nanos() as f64 / 2000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!("{:.0} ns per training step (median of 9)", times[4]);
}
EOF
  } >"$dir/src/bin/$variant.rs"
done
cd "$dir"
for variant in typed boxed; do
  cargo build -q --release --bin "$variant"
  touch "src/bin/$variant.rs"
  start=$(date +%s.%N)
  cargo build -q --release --bin "$variant"
  end=$(date +%s.%N)
  printf '%s, %s layers: release build %.1f s, ' "$variant" "$layers" "$(echo "$end - $start" | bc)"
  "$CARGO_TARGET_DIR/release/$variant"
done
