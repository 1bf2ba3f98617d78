#!/usr/bin/env bash
# Builds the release binary and lays out the release archive:
#
#   dist/bsn-credential-helper-<version>-<target-triple>.tar.gz   (.zip for Windows targets)
#   dist/SHA256SUMS                                                (every archive/package in dist/)
#
# Usage: packaging/build-release.sh [CARGO_TARGET_DIR]
#
# Environment:
#   TARGET        target triple to build for (default: the host's); passed to cargo --target
#   LINK          static or dynamic (default: static for x86_64- and aarch64-unknown-linux-gnu,
#                 dynamic elsewhere). static builds a glibc static-pie (-C target-feature=+crt-static
#                 with --target, so build scripts and proc-macros stay dynamic) into
#                 CARGO_TARGET_DIR/<triple>/release, and fails unless readelf shows ELF type
#                 DYN with no interpreter and no NEEDED library.
#   DIST_DIR      where archives go (default: <repo>/dist)
#   SKIP_BUILD=1  package the binary already in the target dir instead of running cargo
#   BSN_GEN_BIN   a binary that runs on this machine, used to generate the man page and
#                 completions when cross-compiling (default: the binary just built)
#   SOURCE_DATE_EPOCH  timestamp for archive members (default: the last commit's)
set -euo pipefail
# shellcheck source=packaging/lib.sh
. "$(dirname "$0")/lib.sh"

case ${1:-} in -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;; esac

cd "$PKG_ROOT"
target_dir=${1:-${CARGO_TARGET_DIR:-$PKG_ROOT/target}}
dist=${DIST_DIR:-$PKG_ROOT/dist}
version=$(pkg_version)
host=$(host_triple)
triple=${TARGET:-$host}

link=${LINK:-}
if [[ -z $link ]]; then
    case $triple in
        x86_64-unknown-linux-gnu|aarch64-unknown-linux-gnu) link=static ;;
        *) link=dynamic ;;
    esac
fi
case $link in
    static) [[ $triple == x86_64-unknown-linux-gnu || $triple == aarch64-unknown-linux-gnu ]] \
                || die "LINK=static is for x86_64- and aarch64-unknown-linux-gnu, not $triple" ;;
    dynamic) ;;
    *) die "LINK must be static or dynamic, not '$link'" ;;
esac

cargo_args=(build --release --locked --target-dir "$target_dir")
bin_dir=$target_dir/release
if [[ -n ${TARGET:-} || $link == static ]]; then
    # With --target, RUSTFLAGS reach only the target's crates: build scripts and proc-macros
    # (which cannot be static) are built as usual.
    cargo_args+=(--target "$triple")
    bin_dir=$target_dir/$triple/release
fi
# Cross linkers: Debian's names (gcc-aarch64-linux-gnu; cargo's default for windows-gnu is
# already mingw-w64's x86_64-w64-mingw32-gcc). An explicit CARGO_TARGET_*_LINKER wins.
if [[ $link == static ]]; then
    static_pie_env "$triple"
elif [[ $triple == aarch64-unknown-linux-gnu && $host != aarch64-* ]]; then
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER:-aarch64-linux-gnu-gcc}
fi
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    note "${RUSTFLAGS:+RUSTFLAGS=\"$RUSTFLAGS\" }cargo ${cargo_args[*]}"
    cargo "${cargo_args[@]}"
fi

windows=0
exe=
if [[ $triple == *windows* ]]; then windows=1; exe=.exe; fi
bin=$bin_dir/$PKG_NAME$exe
[[ -x $bin ]] || die "no binary at $bin (build failed, or SKIP_BUILD=1 without a build)"
if [[ $triple == *-linux-* ]]; then
    kind=$(elf_link_kind "$bin")
    if [[ $link == static && $kind != static-pie ]]; then
        die "$bin is $kind, not static-pie (LINK=static)"
    fi
    note "$bin: $kind"
fi

gen=${BSN_GEN_BIN:-$bin}
if [[ $triple != "$host" && -z ${BSN_GEN_BIN:-} ]]; then
    die "cross-compiling for $triple: set BSN_GEN_BIN to a $host build to generate the man page and completions"
fi
# The binary must be the version we are about to name the archive after.
gen_version=$("$gen" --version) || die "$gen --version failed"
[[ $gen_version == *" $version "* || $gen_version == *" $version" ]] \
    || die "$gen reports '$gen_version', but Cargo.toml says $version"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
base=$PKG_NAME-$version-$triple
pkg=$stage/$base
umask 022
mkdir -p "$pkg/bin" "$pkg/share/man/man1" "$pkg/share/doc/$PKG_NAME" \
    "$pkg/share/bash-completion/completions" "$pkg/share/zsh/site-functions" \
    "$pkg/share/fish/vendor_completions.d"

cp "$bin" "$pkg/bin/$PKG_NAME$exe"
chmod 0755 "$pkg/bin/$PKG_NAME$exe"
# The binary dispatches on argv[0]; a relative symlink keeps that name. Windows has no
# symlinks a user can count on: the zip holds a copy under each name (git, Docker and Bazel
# look up git-credential-bsn.exe etc. on PATH).
for alias in "${PKG_ALIASES[@]}"; do
    if [[ $windows == 1 ]]; then
        cp "$pkg/bin/$PKG_NAME$exe" "$pkg/bin/$alias$exe"
    else
        ln -s "$PKG_NAME" "$pkg/bin/$alias"
    fi
done

"$gen" manpage > "$pkg/share/man/man1/$PKG_NAME.1"
"$gen" completions bash > "$pkg/share/bash-completion/completions/$PKG_NAME"
"$gen" completions zsh > "$pkg/share/zsh/site-functions/_$PKG_NAME"
"$gen" completions fish > "$pkg/share/fish/vendor_completions.d/$PKG_NAME.fish"
for f in "$pkg/share/man/man1/$PKG_NAME.1" "$pkg/share/bash-completion/completions/$PKG_NAME" \
         "$pkg/share/zsh/site-functions/_$PKG_NAME" "$pkg/share/fish/vendor_completions.d/$PKG_NAME.fish"; do
    [[ -s $f ]] || die "generated an empty ${f#"$pkg/"}"
done

for doc in README.md protocol.md; do
    if [[ -f $doc ]]; then
        cp "$doc" "$pkg/share/doc/$PKG_NAME/$doc"
    elif [[ -f docs/$doc ]]; then
        cp "docs/$doc" "$pkg/share/doc/$PKG_NAME/$doc"
    else
        warn "$doc not found; the archive ships without it"
    fi
done
shopt -s nullglob
for lic in LICENSE* COPYING*; do
    cp "$lic" "$pkg/share/doc/$PKG_NAME/"
done
shopt -u nullglob

mkdir -p "$dist"
# dist/ holds build output only; keep it out of git without touching the repo's .gitignore.
[[ -f $dist/.gitignore ]] || printf '*\n' > "$dist/.gitignore"
epoch=$(source_date_epoch)
if [[ $windows == 1 ]]; then
    out=$dist/$base.zip
    python3 - "$stage" "$base" "$out" "$epoch" <<'PY'
import os, sys, time, zipfile
stage, base, out, epoch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
stamp = time.gmtime(max(epoch, 315532800))[:6]  # zip cannot store dates before 1980
with zipfile.ZipFile(out + ".tmp", "w", zipfile.ZIP_DEFLATED) as z:
    for dirpath, dirnames, filenames in os.walk(os.path.join(stage, base)):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            info = zipfile.ZipInfo(os.path.relpath(path, stage).replace(os.sep, "/"), stamp)
            info.external_attr = (os.stat(path).st_mode & 0o777) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as f:
                z.writestr(info, f.read())
os.replace(out + ".tmp", out)
PY
else
    out=$dist/$base.tar.gz
    tar_opts=()
    if tar --version 2>/dev/null | grep -q 'GNU tar'; then
        # Reproducible: same inputs, same bytes.
        # shellcheck disable=SC2054  # the commas belong to --pax-option
        tar_opts=(--sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch"
                  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime)
    fi
    tar -C "$stage" "${tar_opts[@]}" -cf - "$base" | gzip -9n > "$out.tmp"
    mv "$out.tmp" "$out"
fi
write_sums "$dist"
note "wrote $out"
note "wrote $dist/SHA256SUMS"
