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
