# shellcheck shell=bash
# A root with no shared library, for running a static binary: sourced by .ci/package-check
# (the tarball's and the .deb's binary) and .ci/client-packages (the npm and wheel binaries).
# The caller defines fail() and sets PKG_NAME (packaging/lib.sh) and CA_BUNDLE.

# chroot needs root; elsewhere a user namespace (unshare -r) may allow it.
CHROOT=()
if [[ $(id -u) == 0 ]]; then
    CHROOT=("$(command -v chroot)")
elif unshare --user --map-root-user "$(command -v chroot)" / true 2>/dev/null; then
    CHROOT=("$(command -v unshare)" --user --map-root-user "$(command -v chroot)")
fi

# make_bare_root DIR BINARY: a root holding the binary (and one symlink), /etc/hosts,
# /etc/nsswitch.conf, /etc/resolv.conf, a CA bundle and /tmp. Nothing else: no libc, no
# ld.so, no shell.
make_bare_root() {
    local root=$1 bin=$2
    mkdir -p "$root/bin" "$root/etc/ssl/certs" "$root/tmp"
    chmod 1777 "$root/tmp"
    cp "$bin" "$root/bin/$PKG_NAME"
    ln -s "$PKG_NAME" "$root/bin/git-credential-bsn"
    printf '127.0.0.1\tlocalhost\n' > "$root/etc/hosts"
    printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$root/etc/nsswitch.conf"
    # Loopback only: the DNS stub of c_static_bare_root, when it runs.
    printf 'nameserver 127.0.0.153\noptions timeout:1 attempts:1\n' > "$root/etc/resolv.conf"
    cp "$CA_BUNDLE" "$root/etc/ssl/certs/ca-certificates.crt"
}

# bare_run ROOT CACHE_DIR STDIN ARGS...: runs the helper in ROOT with a clean environment
# pointed at the emulator by the name localhost; sets rc, out, err.
bare_run() {
    local root=$1 cache=$2 input=$3
    shift 3
    set +e
    out=$(env -i HOME=/tmp BSN_CACHE_DIR="$cache" SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
        BSN_TOKEN_URL="$EMU_TOKEN_URL" BSN_API_URL="$EMU_API_URL" BSN_CLIENT_ID="$EMU_CLIENT_ID" \
        BSN_CLIENT_SECRET="$EMU_CLIENT_SECRET" BSN_NETWORK="$EMU_NETWORK" \
        timeout 20 "${CHROOT[@]}" "$root" "$@" < "$input" 2> "$root.err")
    rc=$?
    set -e
    err=$(head -c 600 "$root.err")
    printf '%s: exit %s\nstdout: %s\nstderr: %s\n' "$*" "$rc" "$out" "$err"
}

# start_bare_emulator ROOT: starts the emulator (ROOT's /bin/bsn-credential-helper) inside
# ROOT on 127.0.0.1 and points the EMU_* variables at it by the name localhost. Sets emu_pid
# and EMU_PORT; the caller stops it.
start_bare_emulator() {
    local root=$1 banner
    : > "$root.emu"   # exists before the background job opens it
    env -i "${CHROOT[@]}" "$root" "/bin/$PKG_NAME" emulator --port 0 > "$root.emu" 2>&1 &
    emu_pid=$!
    EMU_PORT=
    for _ in $(seq 1 100); do
        EMU_PORT=$(sed -n 's,^BSN.cloud emulator listening on http://127\.0\.0\.1:\([0-9]*\).*,\1,p' "$root.emu")
        [[ -z $EMU_PORT ]] || break
        kill -0 "$emu_pid" 2>/dev/null || fail "the emulator exited in $root: $(cat "$root.emu")"
        sleep 0.1
    done
    [[ -n $EMU_PORT ]] || fail "the emulator printed no port in 10 s: $(cat "$root.emu")"
    banner=$(cat "$root.emu")
    val() { sed -n "s/^export $1=//p" <<<"$banner" | tr -d "'" | head -n 1; }
    EMU_CLIENT_ID=$(val BSN_CLIENT_ID) EMU_CLIENT_SECRET=$(val BSN_CLIENT_SECRET) EMU_NETWORK=$(val BSN_NETWORK)
    EMU_TOKEN_URL=$(val BSN_TOKEN_URL) EMU_API_URL=$(val BSN_API_URL)
    [[ -n $EMU_CLIENT_ID && -n $EMU_TOKEN_URL ]] || fail "cannot read the demo client from the banner"
    # By name, from the root's /etc/hosts: http://localhost:PORT.
    EMU_TOKEN_URL=${EMU_TOKEN_URL/127.0.0.1/localhost} EMU_API_URL=${EMU_API_URL/127.0.0.1/localhost}
    [[ $EMU_TOKEN_URL == http://localhost:$EMU_PORT/* ]] || fail "token URL $EMU_TOKEN_URL"
    echo '{"version":1}' > "$root/request.json"
}
