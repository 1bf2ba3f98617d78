#!/bin/sh
# Installs a bsn-credential-helper release archive, after checking it against SHA256SUMS.
#
# Usage: install.sh [--prefix DIR] [--sums FILE|URL] [--dry-run] ARCHIVE|URL
#
#   ARCHIVE         bsn-credential-helper-<version>-<target>.tar.gz, a path or an
#                   https:// or file:// URL
#   --sums X        the SHA256SUMS to check against (default: SHA256SUMS next to ARCHIVE)
#   --prefix DIR    install under DIR (default: /usr/local as root, else $HOME/.local)
#   --dry-run       verify and show what would be installed, change nothing
#
# Installs DIR/bin/bsn-credential-helper, the names git-credential-bsn,
# docker-credential-bsn and bazel-credential-bsn (symlinks to it), the man page,
# bash/zsh/fish completions and the docs. Nothing is installed unless the
# archive's SHA-256 matches.
set -eu

NAME=bsn-credential-helper
ALIASES="git-credential-bsn docker-credential-bsn bazel-credential-bsn"
ME=install.sh

say() { printf '%s: %s\n' "$ME" "$*"; }
die() { printf '%s: error: %s\n' "$ME" "$*" >&2; exit 1; }
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }

prefix=
sums=
dry_run=0
archive=
while [ $# -gt 0 ]; do
    case $1 in
        --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        --sums) [ $# -ge 2 ] || die "--sums needs a file or URL"; sums=$2; shift 2 ;;
        --sums=*) sums=${1#--sums=}; shift ;;
        -n|--dry-run) dry_run=1; shift ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) die "unknown option $1 (try --help)" ;;
        *) [ -z "$archive" ] || die "one archive at a time (got '$archive' and '$1')"
           archive=$1; shift ;;
    esac
done
if [ $# -gt 0 ]; then
    if [ -n "$archive" ] || [ $# -ne 1 ]; then die "one archive at a time"; fi
    archive=$1
fi
[ -n "$archive" ] || { usage >&2; exit 2; }

if [ -z "$prefix" ]; then
    if [ "$(id -u)" = 0 ]; then
        prefix=/usr/local
    else
        [ -n "${HOME:-}" ] || die "HOME is not set; pass --prefix"
        prefix=$HOME/.local
    fi
fi
case $prefix in
    /*) ;;
    *) prefix=$(pwd)/$prefix ;;
esac

is_url() {
    case $1 in https://*|http://*|file://*) return 0 ;; *) return 1 ;; esac
}

fetch() { # fetch SOURCE DEST: copy a path or download a URL
    if is_url "$1"; then
        case $1 in http://*) die "refusing plain http:// for $1 (use https://)" ;; esac
        if command -v curl >/dev/null 2>&1; then
            curl --fail --silent --show-error --location --proto '=https,file' -o "$2" "$1" \
                || die "cannot download $1"
        elif command -v wget >/dev/null 2>&1; then
            case $1 in file://*) cp "${1#file://}" "$2" || die "cannot read $1" ;;
                *) wget -q -O "$2" "$1" || die "cannot download $1" ;; esac
        else
            die "need curl or wget to download $1"
        fi
    else
        [ -f "$1" ] || die "no such file: $1"
        cp "$1" "$2" || die "cannot read $1"
    fi
}

sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d' ' -f1
    else
        die "need sha256sum or shasum to verify the archive"
    fi
}

base=${archive##*/}
base=${base%%\?*}
case $base in
    "$NAME"-*.tar.gz) ;;
    *) die "'$base' does not look like a $NAME release archive ($NAME-<version>-<target>.tar.gz)" ;;
esac
if [ -z "$sums" ]; then
    case $archive in
        */*) sums=${archive%/*}/SHA256SUMS ;;
        *) sums=SHA256SUMS ;;
    esac
fi

tmp=$(mktemp -d 2>/dev/null || mktemp -d -t bsn-install)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# Work on private copies, so the file that is verified is the file that is unpacked.
fetch "$archive" "$tmp/$base"
fetch "$sums" "$tmp/SHA256SUMS"

expected=$(awk -v f="$base" '{ n = $2; sub(/^\*/, "", n); if (n == f) { print $1; exit } }' "$tmp/SHA256SUMS" \
    | tr 'ABCDEF' 'abcdef')
[ -n "$expected" ] || die "$sums has no entry for $base; refusing to install an unverified archive"
actual=$(sha256 "$tmp/$base")
if [ "$expected" != "$actual" ]; then
    die "checksum mismatch for $base: SHA256SUMS says $expected, the file is $actual; refusing to install (corrupt download or tampered archive)"
fi
say "checksum OK: $base ($actual)"

mkdir "$tmp/x"
gzip -dc "$tmp/$base" | (cd "$tmp/x" && tar -xf -) || die "cannot unpack $base"
top=$tmp/x/${base%.tar.gz}
[ -f "$top/bin/$NAME" ] || die "$base has no ${base%.tar.gz}/bin/$NAME"

if [ "$dry_run" = 1 ]; then
    say "dry run: nothing will be changed under $prefix"
fi
install_file() { # install_file SRC DEST MODE: write next to DEST, then rename over it
    if [ "$dry_run" = 1 ]; then
        say "would install $2 (mode $3)"
        return 0
    fi
    mkdir -p "${2%/*}"
    cp "$1" "$2.tmp.$$"
    chmod "$3" "$2.tmp.$$"
    mv -f "$2.tmp.$$" "$2"
}
link() { # link NAME TARGET: DIR/bin/NAME -> TARGET
    if [ "$dry_run" = 1 ]; then
        say "would link $prefix/bin/$1 -> $2"
        return 0
    fi
    rm -f "$prefix/bin/$1"
    ln -s "$2" "$prefix/bin/$1"
}

install_file "$top/bin/$NAME" "$prefix/bin/$NAME" 0755
for alias in $ALIASES; do
    link "$alias" "$NAME"
done
install_file "$top/share/man/man1/$NAME.1" "$prefix/share/man/man1/$NAME.1" 0644
install_file "$top/share/bash-completion/completions/$NAME" \
    "$prefix/share/bash-completion/completions/$NAME" 0644
install_file "$top/share/zsh/site-functions/_$NAME" "$prefix/share/zsh/site-functions/_$NAME" 0644
install_file "$top/share/fish/vendor_completions.d/$NAME.fish" \
    "$prefix/share/fish/vendor_completions.d/$NAME.fish" 0644
for doc in "$top/share/doc/$NAME"/*; do
    [ -f "$doc" ] || continue
    install_file "$doc" "$prefix/share/doc/$NAME/${doc##*/}" 0644
done

if [ "$dry_run" = 1 ]; then
    say "dry run complete: the archive verified, nothing was installed"
    exit 0
fi

say "installed $NAME and $(echo "$ALIASES" | sed 's/ /, /g') into $prefix/bin"
if version=$("$prefix/bin/$NAME" --version 2>/dev/null); then
    say "$version"
else
    say "warning: $prefix/bin/$NAME --version did not run (an archive for another platform?)"
fi
case :${PATH:-}: in
    *:"$prefix/bin":*) ;;
    *) say "note: $prefix/bin is not on your PATH; add it, e.g. export PATH=\"$prefix/bin:\$PATH\"" ;;
esac
case $prefix in
    /usr|/usr/local) ;;
    *) say "note: for zsh completions add $prefix/share/zsh/site-functions to fpath before compinit" ;;
esac
