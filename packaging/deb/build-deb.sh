#!/usr/bin/env bash
# Builds dist/bsn-credential-helper_<version>-<revision>_<arch>.deb with plain dpkg-deb
# (no cargo-deb), from the release archive so that the .deb and the tarball carry the
# same binary, man page and completions.
#
# Usage: packaging/deb/build-deb.sh [RELEASE_TARBALL]
#   Without an argument, runs packaging/build-release.sh first (a no-op cargo build when
#   nothing changed) and packages its host tarball.
#
# Environment:
#   DIST_DIR        output directory (default: <repo>/dist); SHA256SUMS there is rewritten
#   DEB_REVISION    Debian revision (default: 1)
#   DEB_MAINTAINER  Maintainer field
#   DEB_ARCH        Architecture (default: from the tarball's triple: x86_64-* amd64,
#                   aarch64-* arm64; else dpkg --print-architecture)
set -euo pipefail
# shellcheck source=packaging/lib.sh
. "$(dirname "$0")/../lib.sh"

case ${1:-} in -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;; esac
command -v dpkg-deb >/dev/null || die "dpkg-deb is required"

dist=${DIST_DIR:-$PKG_ROOT/dist}
version=$(pkg_version)
if [[ $# -ge 1 ]]; then
    tarball=$1
else
    "$PKG_ROOT/packaging/build-release.sh"
    tarball=$dist/$PKG_NAME-$version-$(host_triple).tar.gz
fi
[[ -f $tarball ]] || die "no release tarball at $tarball"
tarball=$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")
case ${tarball##*/} in
    "$PKG_NAME-$version-"*.tar.gz) ;;
    *) die "${tarball##*/} is not a $PKG_NAME $version release tarball (Cargo.toml says $version)" ;;
esac

case ${tarball##*/} in
    *-x86_64-unknown-linux-*) triple_arch=amd64 ;;
    *-aarch64-unknown-linux-*) triple_arch=arm64 ;;
    *) triple_arch=$(dpkg --print-architecture) ;;
esac
arch=${DEB_ARCH:-$triple_arch}
revision=${DEB_REVISION:-1}
# Cargo pre-releases (1.0.0-rc.1) must sort before the release in Debian: 1.0.0~rc.1.
deb_version=${version//-/\~}-$revision
maintainer=${DEB_MAINTAINER:-"bsn-credential-helper maintainers <bsn-credential-helper@users.noreply.github.com>"}
epoch=$(source_date_epoch)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 022
tar -xzf "$tarball" -C "$work"
src=$work/${tarball##*/}
src=${src%.tar.gz}
[[ -x $src/bin/$PKG_NAME ]] || die "$tarball has no bin/$PKG_NAME"

root=$work/root
doc=$root/usr/share/doc/$PKG_NAME
man1=$root/usr/share/man/man1
mkdir -p "$root/DEBIAN" "$root/usr/bin" "$man1" "$doc" \
    "$root/usr/share/bash-completion/completions" \
    "$root/usr/share/zsh/vendor-completions" \
    "$root/usr/share/fish/vendor_completions.d"

install -m 0755 "$src/bin/$PKG_NAME" "$root/usr/bin/$PKG_NAME"
gzip -9n < "$src/share/man/man1/$PKG_NAME.1" > "$man1/$PKG_NAME.1.gz"
for alias in "${PKG_ALIASES[@]}"; do
    ln -s "$PKG_NAME" "$root/usr/bin/$alias"
    # Every command in /usr/bin gets a man page: the same one.
    ln -s "$PKG_NAME.1.gz" "$man1/$alias.1.gz"
done
install -m 0644 "$src/share/bash-completion/completions/$PKG_NAME" \
    "$root/usr/share/bash-completion/completions/$PKG_NAME"
install -m 0644 "$src/share/zsh/site-functions/_$PKG_NAME" \
    "$root/usr/share/zsh/vendor-completions/_$PKG_NAME"
install -m 0644 "$src/share/fish/vendor_completions.d/$PKG_NAME.fish" \
    "$root/usr/share/fish/vendor_completions.d/$PKG_NAME.fish"
for f in README.md protocol.md; do
    if [[ -f $src/share/doc/$PKG_NAME/$f ]]; then
        install -m 0644 "$src/share/doc/$PKG_NAME/$f" "$doc/$f"
    else
        warn "$f is not in the release tarball; the package ships without it"
    fi
done

cat > "$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: $PKG_NAME
Source: $PKG_HOMEPAGE
Comment: The binary statically links the Rust crates pinned in the source's Cargo.lock,
 each under its own license (mostly MIT and/or Apache-2.0).

Files: *
Copyright: $(date -u -d "@$epoch" +%Y 2>/dev/null || date -u +%Y) The $PKG_NAME authors
License: MIT or Apache-2.0

License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy
 of this software and associated documentation files (the "Software"), to deal
 in the Software without restriction, including without limitation the rights
 to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
 copies of the Software, and to permit persons to whom the Software is
 furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in all
 copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
 SOFTWARE.

License: Apache-2.0
 On Debian systems, the full text of the Apache License, Version 2.0 can be
 found in /usr/share/common-licenses/Apache-2.0.
COPYRIGHT

{
    printf '%s (%s) unstable; urgency=medium\n\n' "$PKG_NAME" "$deb_version"
    printf '  * Upstream release %s, packaged from the release tarball.\n\n' "$version"
    printf ' -- %s  %s\n' "$maintainer" "$(LC_ALL=C date -u -R -d "@$epoch" 2>/dev/null || LC_ALL=C date -u -R)"
} | gzip -9n > "$doc/changelog.Debian.gz"

# Not an upload to the Debian archive: there is no ITP bug to close.
mkdir -p "$root/usr/share/lintian/overrides"
printf '%s: initial-upload-closes-no-bugs\n' "$PKG_NAME" > "$root/usr/share/lintian/overrides/$PKG_NAME"

# Depends: none for a static binary (the x86_64 release is glibc static-pie); otherwise
# from the binary's real shared-library needs when dpkg-shlibdeps can tell.
depends=
link_kind=$(elf_link_kind "$root/usr/bin/$PKG_NAME")
if [[ $link_kind != dynamic ]]; then
    note "$PKG_NAME is $link_kind: no Depends"
    if [[ $link_kind == static-pie ]]; then
        # A static-pie executable is ELF type DYN without an interpreter, which lintian takes
        # for a shared library missing its NEEDED entries.
        printf '%s: shared-library-lacks-prerequisites [usr/bin/%s]\n' "$PKG_NAME" "$PKG_NAME" \
            >> "$root/usr/share/lintian/overrides/$PKG_NAME"
    fi
elif command -v dpkg-shlibdeps >/dev/null 2>&1; then
    mkdir -p "$work/shlib/debian"
    printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$PKG_NAME" "$PKG_NAME" > "$work/shlib/debian/control"
    if out=$(cd "$work/shlib" && dpkg-shlibdeps -O -e"$root/usr/bin/$PKG_NAME" 2>/dev/null); then
        depends=$(sed -n 's/^shlibs:Depends=//p' <<<"$out")
    fi
fi
if [[ -z $depends && $link_kind == dynamic ]]; then
    # Fallback: the newest glibc symbol version the binary asks for.
    glibc=$(objdump -T "$root/usr/bin/$PKG_NAME" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1 || true)
    depends="libc6${glibc:+ (>= $glibc)}"
    warn "dpkg-shlibdeps unavailable or failed; using Depends: $depends"
fi

installed_size=$(du -sk --apparent-size "$root/usr" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: $PKG_NAME
Version: $deb_version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
${depends:+Depends: $depends
}Section: utils
Priority: optional
Homepage: $PKG_HOMEPAGE
Description: BSN.cloud (BrightSign) API access tokens from a shared, file-locked cache
 bsn-credential-helper hands out BSN.cloud API access tokens to scripts, CI jobs
 and host tools. Concurrent callers share one file-locked token cache, so a
 token is refreshed exactly once however many processes ask at the same time.
 .
 The same binary is installed as git-credential-bsn, docker-credential-bsn and
 bazel-credential-bsn to serve git's, Docker's and Bazel's credential helper
 protocols.
CONTROL

(cd "$root" && find usr -type f -print0 | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
find "$root" -type d -exec chmod 0755 {} +
# Reproducible: clamp every mtime to the source date.
find "$root" -newermt "@$epoch" -print0 | xargs -0r touch -h -d "@$epoch"

mkdir -p "$dist"
[[ -f $dist/.gitignore ]] || printf '*\n' > "$dist/.gitignore"
deb=$dist/${PKG_NAME}_${deb_version}_$arch.deb
SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
write_sums "$dist"
note "wrote $deb"
