#!/usr/bin/env bash
# Points every recipe at a release: version, URLs and sha256 values.
#
# Usage: packaging/update-recipes.sh VERSION [--sums SHA256SUMS] [--source-sha256 HEX] [--root DIR]
#   VERSION           the release version, as in Cargo.toml (bump Cargo.toml itself separately)
#   --sums FILE       the release's SHA256SUMS; fills the Scoop hash from the Windows zip's entry
#   --source-sha256   sha256 of the tag's source archive (.../archive/refs/tags/vVERSION.tar.gz),
#                     for the Homebrew formula
#   --root DIR        repository root to edit (default: this one)
# Then run packaging/check-consistency.py (--release once the hashes are real).
set -euo pipefail
# shellcheck source=packaging/lib.sh
. "$(dirname "$0")/lib.sh"

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }
version='' sums='' source_sha='' root=$PKG_ROOT
while [[ $# -gt 0 ]]; do
    case $1 in
        --sums) sums=${2:?--sums needs a file}; shift 2 ;;
        --source-sha256) source_sha=${2:?--source-sha256 needs a value}; shift 2 ;;
        --root) root=${2:?--root needs a directory}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        -*) die "unknown option $1" ;;
        *) [[ -z $version ]] || die "one VERSION only"; version=$1; shift ;;
    esac
done
[[ -n $version ]] || { usage >&2; exit 2; }
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]] || die "'$version' is not a version"
[[ -z $source_sha || $source_sha =~ ^[0-9a-f]{64}$ ]] || die "--source-sha256 must be 64 lowercase hex digits"
[[ -z $sums || -f $sums ]] || die "no such file: $sums"

python3 - "$root" "$version" "$sums" "$source_sha" <<'PY'
import json, re, sys, time
from pathlib import Path

root, v, sums, source_sha = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
NAME = "bsn-credential-helper"
HOMEPAGE = "https://github.com/bsn-credential-helper/bsn-credential-helper"
zip_name = f"{NAME}-{v}-x86_64-pc-windows-gnu.zip"

def edit(rel, fn):
    p = root / rel
    old = p.read_text()
    new = fn(old)
    if new != old:
        p.write_text(new)
        print(f"update-recipes.sh: updated {rel}")

def sub1(pattern, repl, text, what):
    new, n = re.subn(pattern, repl, text, count=1, flags=re.M)
    if n != 1:
        sys.exit(f"update-recipes.sh: error: cannot find {what}")
    return new

def formula(t):
    t = sub1(r'^(\s*url "[^"]*/archive/refs/tags/v)[^"/]+(\.tar\.gz")', rf"\g<1>{v}\g<2>", t, "the formula url")
    if source_sha:
        t = sub1(r'^(\s*sha256 ")[^"]*(")', rf"\g<1>{source_sha}\g<2>", t, "the formula sha256")
    return t

zip_sha = None
if sums:
    for line in Path(sums).read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == zip_name:
            zip_sha = parts[0].lower()
    if not zip_sha:
        print(f"update-recipes.sh: warning: {sums} has no {zip_name}; the Scoop hash is left as it was", file=sys.stderr)

def scoop(t):
    m = json.loads(t)
    m["version"] = v
    a = m["architecture"]["64bit"]
    # Rebuilt from scratch, so a hand-edited or stale entry is corrected too.
    a["url"] = f"{HOMEPAGE}/releases/download/v{v}/{zip_name}"
    a["extract_dir"] = zip_name[:-len(".zip")]
    if zip_sha:
        a["hash"] = zip_sha
    return json.dumps(m, indent=4) + "\n"

def spec(t):
    # RPM versions cannot hold "-": a Cargo pre-release 1.0.0-rc.1 becomes 1.0.0~rc.1,
    # which also sorts before 1.0.0; the tag and archive keep the upstream spelling.
    rv = v.replace("-", "~")
    old = re.search(r"^Version:\s*(\S+)", t, re.M).group(1)
    t = sub1(r"^(%global upstream_version )\S+$", rf"\g<1>{v}", t, "%global upstream_version")
    t = sub1(r"^(Version:\s*)\S+", rf"\g<1>{rv}", t, "Version:")
    if old != rv:
        t = sub1(r"^(Release:\s*)\d+", r"\g<1>1", t, "Release:")
        stamp = time.strftime("%a %b %d %Y", time.gmtime())
        who = "bsn-credential-helper maintainers <bsn-credential-helper@users.noreply.github.com>"
        t = sub1(r"^%changelog\n", f"%changelog\n* {stamp} {who} - {rv}-1\n- Release {v}\n\n", t, "%changelog")
    return t

def container(t):
    return sub1(r"^ARG VERSION=\S+$", f"ARG VERSION={v}", t, "ARG VERSION")

edit("packaging/homebrew/bsn-credential-helper.rb", formula)
edit("packaging/scoop/bsn-credential-helper.json", scoop)
edit("packaging/rpm/bsn-credential-helper.spec", spec)
edit("packaging/container/Containerfile", container)
PY

cargo=$(PKG_ROOT=$root pkg_version 2>/dev/null || true)
[[ $cargo == "$version" ]] || warn "Cargo.toml says '$cargo', not $version: bump it too, or check-consistency.py will fail"
