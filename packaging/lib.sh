# shellcheck shell=bash
# Shared by the bash packaging scripts (not by install.sh, which ships on its own).
# The one place that names the product and its installed names.

# shellcheck disable=SC2034  # these are used by the scripts that source this file
PKG_NAME=bsn-credential-helper
# shellcheck disable=SC2034
PKG_ALIASES=(git-credential-bsn docker-credential-bsn bazel-credential-bsn)
# shellcheck disable=SC2034
PKG_HOMEPAGE=https://github.com/bsn-credential-helper/bsn-credential-helper

PKG_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit 1; }
warn() { printf '%s: warning: %s\n' "${0##*/}" "$*" >&2; }
note() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

# The [package] version in Cargo.toml: the single source of the version everywhere.
pkg_version() {
    local v
    v=$(awk '
        /^\[/ { in_pkg = ($0 == "[package]") ; next }
        in_pkg && /^version[[:space:]]*=/ {
            sub(/^version[[:space:]]*=[[:space:]]*"/, ""); sub(/".*$/, ""); print; exit
        }' "$PKG_ROOT/Cargo.toml")
    [[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]] || die "cannot read the [package] version from Cargo.toml (got '$v')"
    printf '%s\n' "$v"
}

host_triple() {
    rustc -vV | sed -n 's/^host: //p'
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

# Rewrites DIR/SHA256SUMS over every release artifact in DIR (sha256sum text format).
write_sums() {
    local dir=$1 f
    (
        cd "$dir" || exit 1
        shopt -s nullglob
        : > SHA256SUMS.tmp
        for f in *.tar.gz *.zip *.deb *.rpm; do
            printf '%s  %s\n' "$(sha256_of "$f")" "$f" >> SHA256SUMS.tmp
        done
        mv SHA256SUMS.tmp SHA256SUMS
    )
}

# Seconds since the epoch for reproducible archives: SOURCE_DATE_EPOCH, else the last commit.
source_date_epoch() {
    if [[ -n ${SOURCE_DATE_EPOCH:-} ]]; then
        printf '%s\n' "$SOURCE_DATE_EPOCH"
    elif git -C "$PKG_ROOT" log -1 --format=%ct >/dev/null 2>&1; then
        git -C "$PKG_ROOT" log -1 --format=%ct
    else
        date +%s
    fi
}

# How FILE (an ELF executable) is linked, from its program headers and dynamic section:
#   static-pie  position-independent (ELF type DYN), no program interpreter, no NEEDED libraries
#   static      fixed-address (EXEC), no interpreter, no NEEDED libraries
#   dynamic     has a program interpreter (ld.so) or needs shared libraries
# Needs readelf (binutils).
elf_link_kind() {
    local file=$1 headers type
    command -v readelf >/dev/null || die "readelf (binutils) is required to inspect $file"
    headers=$(LC_ALL=C readelf -h -l -d "$file") || die "readelf cannot read $file"
    type=$(sed -n 's/^ *Type: *\([A-Z]*\).*/\1/p' <<<"$headers" | head -n 1)
    if grep -q 'INTERP\|(NEEDED)' <<<"$headers"; then
        echo dynamic
    elif [[ $type == DYN ]]; then
        echo static-pie
    else
        echo static
    fi
}

# Exports what a glibc static-pie release build for TRIPLE (x86_64- or aarch64-unknown-linux-gnu)
# needs: RUSTFLAGS with +crt-static and, for aarch64, whose rustc target links that as a
# fixed-address static executable, packaging/static-pie-cc as the linker (with the cross C
# compiler, aarch64-linux-gnu-gcc, behind it when this is not an aarch64 host) and PIE code.
# Used by build-release.sh, .ci/client-packages and .ci/cross, so their builds of one target
# share one cargo fingerprint (same RUSTFLAGS) and are not rebuilt.
static_pie_env() {
    local triple=$1 linker_var
    export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static"
    case $triple in
        x86_64-unknown-linux-gnu) ;;
        aarch64-unknown-linux-gnu)
            linker_var=CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER
            if [[ -z ${BSN_STATIC_PIE_CC:-} ]]; then
                if [[ -n ${!linker_var:-} ]]; then
                    BSN_STATIC_PIE_CC=${!linker_var}
                elif [[ $(uname -m) == aarch64 ]]; then
                    BSN_STATIC_PIE_CC=cc
                else
                    BSN_STATIC_PIE_CC=aarch64-linux-gnu-gcc
                fi
            fi
            export BSN_STATIC_PIE_CC
            export "$linker_var=$PKG_ROOT/packaging/static-pie-cc"
            RUSTFLAGS+=" -C relocation-model=pie"
            ;;
        *) die "no static-pie recipe for $triple" ;;
    esac
}
