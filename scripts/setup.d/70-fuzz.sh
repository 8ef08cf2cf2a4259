# Coverage-guided fuzzing of the EXI core (issue 20; scripts/fuzz, native/fuzz, tests/fuzz/test_rust_targets.py):
# cargo-afl (pinned) from crates.io, which builds AFL++ from the source it ships (`cargo afl config --build`, no
# LLVM plugins: rustc's own SanitizerCoverage instruments the targets) for the installed stable rustc, into
# ~/.local/share/afl.rs. make and gcc build AFL++.
APT_PACKAGES+=(make gcc)
CARGO_AFL_VERSION=0.18.2

fuzz_install_afl() {
    if ! cargo afl --version 2>/dev/null | grep -E "^cargo-afl $CARGO_AFL_VERSION( |$)" >/dev/null; then
        echo "setup: cargo install cargo-afl $CARGO_AFL_VERSION (builds AFL++)"
        cargo install --quiet --locked --force cargo-afl --version "$CARGO_AFL_VERSION"
    fi
    # Installing builds AFL++ for the current rustc; a rustc installed later needs its own build.
    local vv release commit
    vv=$(rustc -vV)
    release=$(sed -n 's/^release: //p' <<<"$vv")
    commit=$(sed -n 's/^commit-hash: //p' <<<"$vv")
    if [ ! -x "${XDG_DATA_HOME:-$HOME/.local/share}/afl.rs/rustc-$release-${commit:0:7}/afl.rs-$CARGO_AFL_VERSION/afl/bin/afl-fuzz" ]; then
        echo "setup: cargo afl config --build (AFL++ for rustc $release)"
        cargo afl config --build --force >/dev/null
    fi
}
POST_INSTALL+=(fuzz_install_afl)
