#!/usr/bin/env python3
"""Checks that every packaging recipe carries the Cargo.toml version, the project URL and
all four installed names (bsn-credential-helper, git-credential-bsn, docker-credential-bsn,
bazel-credential-bsn); and that the PyPI and npm manifests (pyproject.toml,
clients/node/package.json) carry no version of their own: maturin reads Cargo.toml's, and
packaging/npm/build-packages.sh stamps it into the npm tarballs.

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


def cargo_package(root):
    text = (root / "Cargo.toml").read_text()
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        return None
    return tomllib.loads(text)["package"]


NPM_PLACEHOLDER = "0.0.0-dev"
NPM_SCOPE = "@bsn-credential-helper/"
NPM_PLATFORMS = {"linux-x64", "linux-arm64", "darwin-x64", "darwin-arm64", "win32-x64"}


def check_pypi(r, root, cargo):
    where = "pyproject.toml"
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        r.notes.append(f"{where}: not checked (needs Python >= 3.11 for tomllib)")
        return
    try:
        py = tomllib.loads((root / where).read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        r.check(where, False, f"cannot read: {e}")
        return
    proj, maturin = py.get("project", {}), py.get("tool", {}).get("maturin", {})
    r.check(where, py.get("build-system", {}).get("build-backend") == "maturin", "build-backend must be maturin")
    r.check(where, proj.get("name") == NAME, f"[project] name must be {NAME}")
    r.check(where, "version" not in proj and "version" in proj.get("dynamic", []),
            "the version must be dynamic (maturin takes Cargo.toml's), not written in [project]")
    if cargo:
        r.check(where, proj.get("license") == cargo.get("license"),
                f"license {proj.get('license')!r} != Cargo.toml's {cargo.get('license')!r}")
    urls = proj.get("urls", {})
    r.check(where, urls.get("Homepage") == HOMEPAGE and urls.get("Repository") == HOMEPAGE,
            f"[project.urls] Homepage and Repository must be {HOMEPAGE}")
    readme = proj.get("readme")
    r.check(where, isinstance(readme, str) and (root / readme).is_file(), f"readme {readme!r} is not a file")
    r.check(where, maturin.get("bindings") == "bin", '[tool.maturin] bindings must be "bin"')
    src, module = maturin.get("python-source"), maturin.get("module-name")
    r.check(where, src == "clients/python" and module == "bsn_credential_helper",
            "[tool.maturin] must take the bsn_credential_helper package from clients/python")
    pkg = root / "clients/python/bsn_credential_helper"
    for f in ("__init__.py", "__main__.py", "py.typed"):
        r.check("clients/python/bsn_credential_helper", (pkg / f).is_file(), f"lacks {f}")


def check_npm(r, root, cargo):
    where = "clients/node/package.json"
    try:
        pkg = json.loads((root / where).read_text())
    except (OSError, json.JSONDecodeError) as e:
        r.check(where, False, f"cannot read: {e}")
        return
    r.check(where, pkg.get("name") == NAME, f"name must be {NAME}")
    r.check(where, pkg.get("version") == NPM_PLACEHOLDER,
            f"version must stay {NPM_PLACEHOLDER}: packaging/npm/build-packages.sh stamps Cargo.toml's")
    if cargo:
        r.check(where, pkg.get("license") == cargo.get("license"),
                f"license {pkg.get('license')!r} != Cargo.toml's {cargo.get('license')!r}")
    r.check(where, pkg.get("homepage") == HOMEPAGE, f"homepage must be {HOMEPAGE}")
    r.check(where, HOMEPAGE.split("://", 1)[1] in pkg.get("repository", {}).get("url", ""),
            "repository.url must be the project's")
    deps = pkg.get("optionalDependencies", {})
    platforms = {n[len(NPM_SCOPE):] for n in deps if n.startswith(NPM_SCOPE)}
    r.check(where, platforms == NPM_PLATFORMS and len(deps) == len(NPM_PLATFORMS),
            f"optionalDependencies must be {sorted(NPM_SCOPE + p for p in NPM_PLATFORMS)}")
    r.check(where, all(v == NPM_PLACEHOLDER for v in deps.values()),
            f"optionalDependencies versions must be {NPM_PLACEHOLDER} (stamped at pack time)")
    r.check(where, not pkg.get("dependencies"), "the client has no dependencies")
    hooks = [s for s in pkg.get("scripts", {}) if s in ("preinstall", "install", "postinstall", "prepare")]
    r.check(where, not hooks, f"no install scripts allowed: {hooks}")
    for f in pkg.get("files", []):
        r.check(where, (root / "clients/node" / f).is_file(), f"files lists {f}, which does not exist")
    files = {f.lstrip("./") for f in pkg.get("files", [])}
    for f in list(pkg.get("bin", {}).values()) + [pkg.get("main", ""), pkg.get("types", "")]:
        r.check(where, f.lstrip("./") in files, f"{f} is not in files")
    build = (root / "packaging/npm/build-packages.sh").read_text()
    r.check("packaging/npm/build-packages.sh", "$(pkg_version)" in build, "must take the version from Cargo.toml (pkg_version)")


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
    zip_base = f"{NAME}-{v}-x86_64-pc-windows-gnu"
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
    r.check(where, aarch.get("url") == f"{HOMEPAGE}/releases/download/v$version/{NAME}-$version-x86_64-pc-windows-gnu.zip",
            "autoupdate url must be the $version release zip")
    r.check(where, aarch.get("extract_dir") == f"{NAME}-$version-x86_64-pc-windows-gnu", "autoupdate extract_dir must use $version")
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
    cargo = cargo_package(root)
    check_pypi(r, root, cargo)
    check_npm(r, root, cargo)
    for n in r.notes:
        print(f"note: {n}")
    for p in r.problems:
        print(f"FAIL: {p}")
    if r.problems:
        print(f"check-consistency: {len(r.problems)} problem(s) against version {v}")
        return 1
    print(f"check-consistency: all recipes carry version {v}, {HOMEPAGE} and the names {', '.join(NAMES)};"
          " pyproject.toml and clients/node/package.json take it from Cargo.toml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
