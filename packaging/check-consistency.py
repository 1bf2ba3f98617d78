#!/usr/bin/env python3
"""Checks that every packaging recipe carries the Cargo.toml version, the project URL and
all four installed names (bsn-credential-helper, git-credential-bsn, docker-credential-bsn,
bazel-credential-bsn).

Usage: packaging/check-consistency.py [--root DIR] [--release]
  --root DIR   repository root (default: the one this script is in)
  --release    also fail on placeholder (all-zero) sha256 values, for a release commit
Exit status 0 when consistent, 1 otherwise; prints one line per finding.
"""
import argparse
import json
import re
import sys
from pathlib import Path

NAME = "bsn-credential-helper"
# Each extra name and the subcommand it stands for (what a Scoop shim passes, since a shim's
# argv[0] is the real .exe).
ALIAS_SUBCOMMANDS = {"git-credential-bsn": "git", "docker-credential-bsn": "docker", "bazel-credential-bsn": "bazel"}
ALIASES = tuple(ALIAS_SUBCOMMANDS)
NAMES = (NAME,) + ALIASES
HOMEPAGE = "https://github.com/bsn-credential-helper/bsn-credential-helper"
PLACEHOLDER = "0" * 64
HEX64 = re.compile(r"^[0-9a-f]{64}$")


class Report:
    def __init__(self):
        self.problems = []
        self.notes = []

    def check(self, where, ok, what):
        if not ok:
            self.problems.append(f"{where}: {what}")
        return ok


def cargo_version(root):
    text = (root / "Cargo.toml").read_text()
    try:
        import tomllib
        return tomllib.loads(text)["package"]["version"]
    except ImportError:  # Python < 3.11
        section = re.search(r"^\[package\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S).group(1)
        return re.search(r'^version\s*=\s*"([^"]+)"', section, re.M).group(1)


def lock_version(root):
    lock = root / "Cargo.lock"
    if not lock.exists():
        return None
    m = re.search(r'\[\[package\]\]\nname = "%s"\nversion = "([^"]+)"' % re.escape(NAME), lock.read_text())
    return m.group(1) if m else None


def check_hash(r, where, value, release):
    if value == PLACEHOLDER:
        if release:
            r.check(where, False, "sha256 is still the all-zero placeholder")
        else:
            r.notes.append(f"{where}: sha256 is a placeholder (packaging/update-recipes.sh fills it at release)")
    else:
        r.check(where, bool(HEX64.match(value or "")), f"sha256 {value!r} is not 64 lowercase hex digits")


def check_homebrew(r, root, v, release):
    where = "packaging/homebrew/bsn-credential-helper.rb"
    text = (root / where).read_text()
    r.check(where, re.search(r"^class BsnCredentialHelper < Formula$", text, re.M), "class must be BsnCredentialHelper < Formula")
    r.check(where, f'homepage "{HOMEPAGE}"' in text, f"homepage must be {HOMEPAGE}")
    url = re.search(r'^\s*url "([^"]+)"', text, re.M)
    if r.check(where, url, "no url"):
        r.check(where, url.group(1) == f"{HOMEPAGE}/archive/refs/tags/v{v}.tar.gz",
                f"url {url.group(1)} is not the v{v} source archive")
    sha = re.search(r'^\s*sha256 "([^"]*)"', text, re.M)
    if r.check(where, sha, "no sha256"):
        check_hash(r, where, sha.group(1), release)
    r.check(where, re.search(r'system "cargo", "install", \*std_cargo_args', text), "must build with cargo install *std_cargo_args")
    for alias in ALIASES:
        r.check(where, f'bin.install_symlink bin/"{NAME}" => "{alias}"' in text, f"does not install the name {alias}")
    r.check(where, f'man1/"{NAME}.1"' in text and '"manpage"' in text, "does not generate the man page")
    r.check(where, re.search(r'generate_completions_from_executable\(bin/"%s", "completions"\)' % NAME, text), "does not generate completions")
    test = re.search(r"^  test do$(.*?)^  end$", text, re.M | re.S)
    if r.check(where, test, "no test do block"):
        r.check(where, "--version" in test.group(1), "test block does not run --version")


def check_scoop(r, root, v, release):
    where = "packaging/scoop/bsn-credential-helper.json"
    try:
        m = json.loads((root / where).read_text())
    except json.JSONDecodeError as e:
        r.check(where, False, f"invalid JSON: {e}")
        return
    r.check(where, m.get("version") == v, f"version {m.get('version')!r} != {v}")
    r.check(where, m.get("homepage") == HOMEPAGE, f"homepage must be {HOMEPAGE}")
    for key in ("description", "license", "checkver", "autoupdate", "bin", "architecture"):
        r.check(where, key in m, f"missing {key!r}")
    zip_base = f"{NAME}-{v}-x86_64-pc-windows-msvc"
    arch = m.get("architecture", {}).get("64bit", {})
    r.check(where, arch.get("url") == f"{HOMEPAGE}/releases/download/v{v}/{zip_base}.zip",
            f"64bit url {arch.get('url')!r} is not the v{v} release zip")
    r.check(where, arch.get("extract_dir") == zip_base, f"64bit extract_dir must be {zip_base}")
    check_hash(r, where, arch.get("hash"), release)
    bins = m.get("bin", [])
    exe = f"bin\\{NAME}.exe"
    r.check(where, exe in bins, f"bin must list {exe}")
    shims = {b[1]: b for b in bins if isinstance(b, list) and len(b) >= 2}
    for alias, sub in ALIAS_SUBCOMMANDS.items():
        shim = shims.get(alias)
        if r.check(where, shim, f"bin has no shim named {alias}"):
            r.check(where, shim[0] == exe, f"shim {alias} must run {exe}")
            # A shim's argv[0] is the real exe, so the protocol is chosen by argument.
            r.check(where, shim[2:] == [sub], f"shim {alias} must pass the {sub!r} subcommand")
    auto = m.get("autoupdate", {})
    aarch = auto.get("architecture", {}).get("64bit", {})
    r.check(where, aarch.get("url") == f"{HOMEPAGE}/releases/download/v$version/{NAME}-$version-x86_64-pc-windows-msvc.zip",
            "autoupdate url must be the $version release zip")
    r.check(where, aarch.get("extract_dir") == f"{NAME}-$version-x86_64-pc-windows-msvc", "autoupdate extract_dir must use $version")
    r.check(where, auto.get("hash", {}).get("url") == "$baseurl/SHA256SUMS", "autoupdate hash must come from $baseurl/SHA256SUMS")


def check_rpm(r, root, v):
    where = "packaging/rpm/bsn-credential-helper.spec"
    text = (root / where).read_text()
    field = lambda k: (re.search(rf"^{k}:\s*(\S+)", text, re.M) or [None, None])[1]
    r.check(where, field("Name") == NAME, f"Name must be {NAME}")
    rv = v.replace("-", "~")
    r.check(where, field("Version") == rv, f"Version {field('Version')} != {rv}")
    r.check(where, re.search(rf"^%global upstream_version {re.escape(v)}$", text, re.M), f"%global upstream_version must be {v}")
    r.check(where, "/archive/refs/tags/v%{upstream_version}.tar.gz" in text, "Source0 must be the v%{upstream_version} tag archive")
    r.check(where, field("URL") == HOMEPAGE, f"URL must be {HOMEPAGE}")
    r.check(where, "cargo build --release --locked" in text, "must build with cargo build --release --locked")
    files = text.split("%files", 1)[1].split("%changelog", 1)[0] if "%files" in text else ""
    for name in NAMES:
        r.check(where, re.search(rf"^%{{_bindir}}/({re.escape(name)}|%{{name}})$", files, re.M) if name == NAME
                else f"%{{_bindir}}/{name}\n" in files, f"%files does not list {name}")
    for alias in ALIASES:
        r.check(where, f"ln -s %{{name}} %{{buildroot}}%{{_bindir}}/{alias}" in text, f"%install does not link {alias}")
    r.check(where, "%{_mandir}/man1/%{name}.1*" in files, "%files does not list the man page")
    for path in ("bash-completion/completions/%{name}", "zsh/site-functions/_%{name}", "fish/vendor_completions.d/%{name}.fish"):
        r.check(where, path in files, f"%files does not list {path}")
    entry = re.search(r"^%changelog\s*\n\*.*- (\S+)$", text, re.M)
    if r.check(where, entry, "no %changelog entry"):
        r.check(where, entry.group(1).startswith(f"{rv}-"), f"newest %changelog entry is {entry.group(1)}, not {rv}-*")


def check_container(r, root, v):
    where = "packaging/container/Containerfile"
    text = (root / where).read_text()
    r.check(where, re.search(rf"^ARG VERSION={re.escape(v)}$", text, re.M), f"ARG VERSION must be {v}")
    r.check(where, f'org.opencontainers.image.source="{HOMEPAGE}"' in text, "image source label must be the project URL")
    for alias in ALIASES:
        r.check(where, f"ln -s {NAME} /out/usr/local/bin/{alias}" in text, f"does not install the name {alias}")
    r.check(where, f'ENTRYPOINT ["/usr/local/bin/{NAME}"]' in text, "ENTRYPOINT must be the helper in exec form")
    user = re.findall(r"^USER\s+(\S+)", text, re.M)
    r.check(where, user and not re.match(r"^(0|root)(:|$)", user[-1]), "the final USER must not be root")
    r.check(where, "cargo build --release --locked" in text, "must build with cargo build --release --locked")
    r.check(where, "ca-certificates" in text, "runtime must have ca-certificates")


def check_scripts(r, root):
    lib = (root / "packaging/lib.sh").read_text()
    r.check("packaging/lib.sh", f"PKG_NAME={NAME}" in lib, f"PKG_NAME must be {NAME}")
    r.check("packaging/lib.sh", "PKG_ALIASES=(%s)" % " ".join(ALIASES) in lib, "PKG_ALIASES must be the three extra names")
    r.check("packaging/lib.sh", f"PKG_HOMEPAGE={HOMEPAGE}" in lib, "PKG_HOMEPAGE must be the project URL")
    for script in ("packaging/build-release.sh", "packaging/deb/build-deb.sh"):
        text = (root / script).read_text()
        r.check(script, "$(pkg_version)" in text, "must take the version from Cargo.toml (pkg_version)")
        code = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
        r.check(script, not re.search(r"\b\d+\.\d+\.\d+\b", code), "hard-codes a version number")
    inst = (root / "packaging/install.sh").read_text()
    r.check("packaging/install.sh", f"NAME={NAME}" in inst, f"NAME must be {NAME}")
    r.check("packaging/install.sh", 'ALIASES="%s"' % " ".join(ALIASES) in inst, "ALIASES must be the three extra names")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    ap.add_argument("--release", action="store_true")
    args = ap.parse_args()
    root = args.root
    v = cargo_version(root)
    r = Report()
    lv = lock_version(root)
    r.check("Cargo.lock", lv in (None, v), f"records {NAME} {lv}, Cargo.toml says {v}")
    check_homebrew(r, root, v, args.release)
    check_scoop(r, root, v, args.release)
    check_rpm(r, root, v)
    check_container(r, root, v)
    check_scripts(r, root)
    for n in r.notes:
        print(f"note: {n}")
    for p in r.problems:
        print(f"FAIL: {p}")
    if r.problems:
        print(f"check-consistency: {len(r.problems)} problem(s) against version {v}")
        return 1
    print(f"check-consistency: all recipes carry version {v}, {HOMEPAGE} and the names {', '.join(NAMES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
