#!/usr/bin/env bash
# Builds the npm tarballs (`npm pack`), versioned from Cargo.toml:
#
#   OUT/bsn-credential-helper-<version>.tgz              the Node client (clients/node): ESM,
#                                                        CommonJS, .d.ts; one per release
#   OUT/bsn-credential-helper-<os>-<cpu>-<version>.tgz   @bsn-credential-helper/<os>-<cpu>: the
#                                                        binary, with npm `os`/`cpu` fields;
#                                                        one per platform, from a built binary
#
# Usage: packaging/npm/build-packages.sh [--binary FILE] [--platform OS-CPU] [--out DIR] [--main-only]
#   --binary FILE      the built helper for that platform (default: target/release/bsn-credential-helper)
#   --platform OS-CPU  Node's process.platform-process.arch, e.g. linux-x64, darwin-arm64,
#                      win32-x64 (default: this machine's); must be one of the main package's
#                      optionalDependencies
#   --out DIR          where the tarballs go (default: dist/npm)
#   --main-only        only the main package (no binary needed)
# Neither package has install scripts: npm picks the platform package by its os/cpu (and, for
# a dynamically linked Linux binary, libc: glibc) fields, and the client finds the binary
# inside it (clients/node/index.js, findBinary()). A static Linux binary gets no libc field:
# it runs on musl systems too. Reads ELF headers with readelf (binutils).
set -euo pipefail
# shellcheck source=packaging/lib.sh
. "$(dirname "$0")/../lib.sh"

case ${1:-} in -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;; esac

binary=$PKG_ROOT/target/release/$PKG_NAME
platform=
out=$PKG_ROOT/dist/npm
main_only=0
while [[ $# -gt 0 ]]; do
    case $1 in
        --binary) binary=$2; shift 2 ;;
        --platform) platform=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --main-only) main_only=1; shift ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
command -v node >/dev/null || die "node is needed (and npm)"
command -v npm >/dev/null || die "npm is needed"
version=$(pkg_version)
[[ -n $platform ]] || platform=$(node -p 'process.platform + "-" + process.arch')
mkdir -p "$out"
out=$(cd "$out" && pwd)
# dist/ holds build output only (as build-release.sh keeps it): out of git.
if [[ $out == "$PKG_ROOT/dist/"* && ! -f $PKG_ROOT/dist/.gitignore ]]; then printf '*\n' > "$PKG_ROOT/dist/.gitignore"; fi
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
src=$PKG_ROOT/clients/node

# --- the main package: the client, every platform package as an optional dependency ---------
mkdir -p "$stage/main/bin"
cp "$src"/index.js "$src"/index.mjs "$src"/index.d.ts "$src"/index.d.mts "$src"/README.md "$stage/main/"
cp "$src"/bin/bsn-credential-helper.js "$stage/main/bin/"
chmod 0755 "$stage/main/bin/bsn-credential-helper.js"
node - "$src/package.json" "$stage/main/package.json" "$version" <<'JS'
const fs = require('node:fs');
const [from, to, version] = process.argv.slice(2);
const pkg = JSON.parse(fs.readFileSync(from, 'utf8'));
if (pkg.version !== '0.0.0-dev') throw new Error(`${from}: version must stay 0.0.0-dev (Cargo.toml has the real one)`);
pkg.version = version;
for (const name of Object.keys(pkg.optionalDependencies)) pkg.optionalDependencies[name] = version;
fs.writeFileSync(to, JSON.stringify(pkg, null, 2) + '\n');
JS
(cd "$stage/main" && npm pack --silent --ignore-scripts --pack-destination "$out" >/dev/null)
note "built $out/$PKG_NAME-$version.tgz"
[[ $main_only == 0 ]] || exit 0

# --- the platform package: the binary --------------------------------------------------------
# shellcheck disable=SC2016  # JavaScript, not shell
node -e '
  const deps = require(process.argv[1]).optionalDependencies;
  if (!deps["@bsn-credential-helper/" + process.argv[2]]) {
    console.error(`no optional dependency @bsn-credential-helper/${process.argv[2]} in ${process.argv[1]}`);
    process.exit(1);
  }' "$src/package.json" "$platform"
os=${platform%%-*}
exe=$PKG_NAME
[[ $os != win32 ]] || exe=$PKG_NAME.exe
[[ -f $binary ]] || die "no binary at $binary (cargo build --release first, or pass --binary)"
if [[ $platform == "$(node -p 'process.platform + "-" + process.arch')" ]]; then
    got=$("$binary" --version) || die "$binary --version failed"
    [[ $got == "$PKG_NAME $version "* ]] || die "$binary reports '$got', but Cargo.toml says $version"
fi
# A Linux binary that needs no shared library (the static-pie release) runs on glibc and musl
# alike, so its package names no libc; a dynamic one is for glibc only.
libc=
if [[ $os == linux ]]; then
    case $(elf_link_kind "$binary") in
        static|static-pie) libc=any ;;
        *) libc=glibc ;;
    esac
fi
dir=$stage/platform
mkdir -p "$dir/bin"
cp "$binary" "$dir/bin/$exe"
chmod 0755 "$dir/bin/$exe"
node - "$dir/package.json" "$platform" "$version" "$PKG_HOMEPAGE" "$libc" <<'JS'
const fs = require('node:fs');
const [to, platform, version, homepage, libc] = process.argv.slice(2);
const [os, cpu] = [platform.split('-')[0], platform.split('-').slice(1).join('-')];
const pkg = {
  name: `@bsn-credential-helper/${platform}`,
  version,
  description: `The bsn-credential-helper binary for ${platform}; installed by the bsn-credential-helper package`,
  homepage,
  repository: { type: 'git', url: `git+${homepage}.git`, directory: 'packaging/npm' },
  license: 'MIT OR Apache-2.0',
  os: [os],
  cpu: [cpu],
  ...(libc === 'glibc' ? { libc: ['glibc'] } : {}),
  files: ['bin/'],
  preferUnplugged: true,
};
fs.writeFileSync(to, JSON.stringify(pkg, null, 2) + '\n');
JS
cat > "$dir/README.md" <<MD
# @bsn-credential-helper/$platform

The \`$PKG_NAME\` $version binary for \`$platform\`. Install
[\`bsn-credential-helper\`]($PKG_HOMEPAGE) instead: it lists this package as an optional
dependency, npm installs the one matching the machine, and the client finds the binary here.
MD
(cd "$dir" && npm pack --silent --ignore-scripts --pack-destination "$out" >/dev/null)
note "built $out/$PKG_NAME-$platform-$version.tgz"
