#!/bin/sh
# Prepare a machine for the minibox workshop: the classroom VM (the Vagrantfile runs this), a
# Debian 12 or Ubuntu 24.04 machine of your own, a cloud VM (tools/cloud-init.yaml), or CI.
# As root (or with sudo):
#
#   tools/provision.sh [--user NAME] [--repo DIR] [--vm] [--learner-only]
#
#   --user NAME     the learner: gets Rust and the book's tools, and builds the workspace
#                   (default: the user who ran sudo, else whoever runs this)
#   --repo DIR      the workspace (default: the directory above this script)
#   --vm            the classroom VM's extras: cargo builds on the VM's own disk, not the synced
#                   folder; the book served on port 3000 by a systemd unit; logins start in the
#                   repository, in bash
#   --learner-only  skip the maintainers' tools that only `cargo xtask test` needs (Chromium,
#                   Node.js, QEMU, Vagrant, shellcheck, cloud-init): enough for every chapter
#
# Every step checks before it acts: a second run changes nothing and takes seconds, and the last
# line counts the steps that changed something ("nothing to do" when none did). A failure names
# its step. Network: the apt mirrors, static.rust-lang.org (rustup and Rust), crates.io and the
# npm registry (the book's rendering check) only.
set -eu
umask 022

MDBOOK=0.5.4
MDBOOK_MERMAID=0.17.0
# build-essential brings cc and libc6-dev (libc.a: the tests' probe is linked statically);
# busybox-static fills the containers; procps and strace serve the book's demonstrations.
# The network chapter: nftables (the nft program, for NAT and published ports) and iproute2
# (ip, with which the tests make their network namespaces).
# The registry chapter: its tests run docker-registry, push with skopeo, sign tokens with
# openssl, and let podman pull what minibox pushed.
# The oci chapter: its tests run containerd (a daemon of their own, with ctr) and podman with
# minibox as their runtime. The package's own containerd service is never used.
# The rootless chapter: uidmap (the setuid newuidmap and newgidmap, for subordinate ids).
PACKAGES="build-essential busybox-static ca-certificates curl git procps strace nftables iproute2
    docker-registry skopeo openssl podman containerd uidmap"
# The daemon chapter: Debian's docker CLI (20.10, API 1.41), without its daemon. Installing the
# docker.io package would install and start dockerd; the CLI is taken out of the package instead.
DOCKER_CLI=/usr/local/lib/minibox/docker
BOOK_PORT=3000 # inside the VM; the Vagrantfile forwards it to the host's 127.0.0.1:3000

usage() {
    sed -n '2,20s/^# \{0,1\}//p' "$0"
}

die() {
    printf 'provision: %s\n' "$*" >&2
    exit 1
}

# ---- arguments and who the learner is -------------------------------------------------------------

learner=
repo=
vm=no
maintainer=yes
while [ $# -gt 0 ]; do
    case $1 in
        --user) [ $# -ge 2 ] || die "--user needs a name"; learner=$2; shift 2 ;;
        --repo) [ $# -ge 2 ] || die "--repo needs a directory"; repo=$2; shift 2 ;;
        --vm) vm=yes; shift ;;
        --learner-only) maintainer=no; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see $0 --help)" ;;
    esac
done

[ "$(id -u)" -eq 0 ] || die "this installs system packages: run it as root (sudo $0 $*)"
if ! command -v apt-get >/dev/null || ! command -v dpkg-query >/dev/null; then
    die "this script knows Debian and Ubuntu (apt). Elsewhere, see the book's Setting up page"
fi

if [ -z "$learner" ]; then
    if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then learner=$SUDO_USER; else learner=$(id -un); fi
fi
entry=$(getent passwd "$learner") || die "there is no user named $learner"
learner_home=$(printf '%s\n' "$entry" | cut -d: -f6)
if [ "$learner" = "$(id -un)" ]; then
    cargo_home=${CARGO_HOME:-$learner_home/.cargo}
    rustup_home=${RUSTUP_HOME:-$learner_home/.rustup}
else
    cargo_home=$learner_home/.cargo
    rustup_home=$learner_home/.rustup
fi
learner_path=$cargo_home/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# shellcheck source=/dev/null # the distribution's own file
os_id=$(. /etc/os-release && echo "${ID:-}")
# shellcheck source=/dev/null
os_codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")

if [ -z "$repo" ]; then
    repo=$(cd "$(dirname "$0")/.." && pwd)
fi
if [ ! -f "$repo/Cargo.toml" ] || [ ! -d "$repo/xtask" ]; then
    die "no minibox workspace at $repo: pass --repo DIR"
fi
cd "$repo"
# The oldest Rust the workspace builds with: its Cargo.toml's rust-version, written only there.
RUST_NEEDED=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
[ -n "$RUST_NEEDED" ] || die "$repo/Cargo.toml names no rust-version"

# In the VM, cargo builds on the VM's disk: a synced folder is slow, and some (vboxsf) lack the
# hard links and file locks cargo uses. The book is built there too, out of the learner's way.
target_dir=$learner_home/.cache/minibox-target
book_dir=$learner_home/.cache/minibox-book

# Run a command as the learner, with their Rust first on PATH.
as_learner() {
    if [ "$learner" = "$(id -un)" ]; then
        env HOME="$learner_home" CARGO_HOME="$cargo_home" RUSTUP_HOME="$rustup_home" PATH="$learner_path" "$@"
    else
        runuser -u "$learner" -- env HOME="$learner_home" USER="$learner" LOGNAME="$learner" \
            CARGO_HOME="$cargo_home" RUSTUP_HOME="$rustup_home" PATH="$learner_path" "$@"
    fi
}

# ---- steps: each announces itself, then reports "ok" (nothing to do) or "changed" -----------------

steps=0
changed=0
current="starting"
scratch=
started=$(date +%s)

step() {
    step_done
    steps=$((steps + 1))
    current=$1
    step_started=$(date +%s)
    printf '==> %s\n' "$1"
}
# The time of the step that ended, so that the slow one is plain in CI's log.
step_done() {
    [ -z "${step_started:-}" ] || printf '    (%s s)\n' "$(($(date +%s) - step_started))"
    step_started=
}
ok() { printf '    ok: %s\n' "$*"; }
did() {
    changed=$((changed + 1))
    printf '    changed: %s\n' "$*"
}

on_exit() {
    status=$?
    [ -z "$scratch" ] || rm -rf "$scratch"
    if [ "$status" -ne 0 ]; then
        printf '\nprovision: FAILED in step "%s" (exit status %s). The lines above say why;\n' "$current" "$status" >&2
        printf 'provision: fix that, then run tools/provision.sh again (finished steps are skipped).\n' >&2
    fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# retry N COMMAND...: try a command up to N times. Classroom networks drop, and on a VM's first
# boot apt's daily jobs hold its locks for a while.
retry() {
    tries=$1
    shift
    attempt=1
    until "$@"; do
        [ "$attempt" -lt "$tries" ] || return 1
        attempt=$((attempt + 1))
        printf '    retrying in 10 s (attempt %s of %s): %s\n' "$attempt" "$tries" "$*"
        sleep 10
    done
}

# version_ge A B: is version A at least version B?
version_ge() {
    [ -n "$1" ] && [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]
}

# has COMPONENT: is it among the toolchain's $components?
has() {
    printf '%s\n' "$components" | grep -q "^$1-"
}

installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

# The maintainers' tools, for `cargo xtask test` (skipped with --learner-only), by distribution:
# Chromium renders the book for its checks; shellcheck lints the scripts; Vagrant (with the
# libvirt plugin, whose checks catch typos in the Vagrantfile's libvirt block) validates the
# classroom VM; QEMU (with virtiofsd) boots the cgroup v2 VM of `cargo maint vm-test`;
# cloud-init validates tools/cloud-init.yaml; runc and crun are the bench's (`cargo maint bench`,
# and `cargo maint bench-oci` as podman's runtimes) other contenders. Node.js and npm come below, only where missing.
maintainer_packages() {
    case $os_id in
        ubuntu) echo "chromium-browser shellcheck vagrant vagrant-libvirt qemu-system-x86 virtiofsd cloud-init runc crun" ;;
        *) echo "chromium shellcheck vagrant vagrant-libvirt qemu-system-x86 cloud-init runc crun" ;;
    esac
}

step_packages() {
    wanted=$PACKAGES
    if [ "$maintainer" = yes ]; then
        wanted="$wanted $(maintainer_packages)"
        # The book's checker needs Node.js (18 or newer) with npm. Keep one that is there already
        # (for example from NodeSource), whatever its package is called.
        command -v node >/dev/null || wanted="$wanted nodejs"
        command -v npm >/dev/null || wanted="$wanted npm"
    fi
    step "system packages: $wanted"
    missing=
    for package in $wanted; do
        installed "$package" || missing="$missing $package"
    done
    if [ -z "$missing" ]; then
        ok "all installed"
        return
    fi
    export DEBIAN_FRONTEND=noninteractive
    retry 30 apt-get -q -o DPkg::Lock::Timeout=600 update
    extra=
    # Some Debian 12 images ship qemu-utils from bookworm-backports (QEMU 10), which Breaks the
    # qemu-system-common of bookworm's QEMU 7.2, so a plain install stops with "held packages".
    # When apt's dry run refuses, take the release's own qemu-utils along (a downgrade).
    case " $missing " in
        *" qemu-system-x86 "*)
            # shellcheck disable=SC2086 # $missing is a list of package names
            if installed qemu-utils && [ -n "$os_codename" ] &&
                ! apt-get -s -qq install --no-install-recommends $missing >/dev/null 2>&1; then
                extra="qemu-utils/$os_codename --allow-downgrades"
                printf '    qemu-utils %s conflicts with %s'"'"'s QEMU: installing %s'"'"'s qemu-utils with it\n' \
                    "$(dpkg-query -W -f='${Version}' qemu-utils)" "$os_codename" "$os_codename"
            fi
            ;;
    esac
    # shellcheck disable=SC2086 # lists of package names and options
    retry 3 apt-get -q -y -o DPkg::Lock::Timeout=600 install --no-install-recommends $missing $extra
    case " $missing " in
        *" cloud-init "*)
            # Only its schema validator is wanted here: a machine that was not set up by cloud-init
            # should not start running it at its next boot.
            [ -e /etc/cloud/cloud-init.disabled ] || : >/etc/cloud/cloud-init.disabled
            ;;
    esac
    case " $missing " in
        *" docker-registry "*)
            # The registry chapter's tests start registries of their own, on loopback. The package's
            # service would listen on every address (:5000): stop it and keep it off.
            if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
                systemctl disable --now docker-registry >/dev/null 2>&1 || true
            fi
            ;;
    esac
    did "installed$missing"
}

step_docker_cli() {
    step "the docker CLI, without dockerd: $DOCKER_CLI"
    if [ -x "$DOCKER_CLI" ] && found=$("$DOCKER_CLI" --version 2>/dev/null); then
        ok "$found"
        return
    fi
    scratch=$(mktemp -d)
    # apt's download sandbox (user _apt) must be able to write there.
    ! id _apt >/dev/null 2>&1 || chown _apt "$scratch"
    if ! (cd "$scratch" && apt-get -q download docker.io); then
        retry 30 apt-get -q -o DPkg::Lock::Timeout=600 update
        (cd "$scratch" && retry 3 apt-get -q download docker.io)
    fi
    dpkg-deb -x "$scratch"/docker.io_*.deb "$scratch/package"
    install -D -m 0755 "$scratch/package/usr/bin/docker" "$DOCKER_CLI"
    rm -rf "$scratch"
    scratch=
    # `docker` on PATH for the learner, unless there is one already.
    command -v docker >/dev/null || ln -s "$DOCKER_CLI" /usr/local/bin/docker
    did "$("$DOCKER_CLI" --version)"
}

step_rustup() {
    step "rustup for $learner"
    if found=$(as_learner sh -c 'command -v rustup'); then
        ok "$found"
        return
    fi
    case $(uname -m) in
        x86_64 | amd64) triple=x86_64-unknown-linux-gnu ;;
        aarch64 | arm64) triple=aarch64-unknown-linux-gnu ;;
        *) die "rustup has no build for $(uname -m) here: install Rust by hand (https://rustup.rs)" ;;
    esac
    url=https://static.rust-lang.org/rustup/dist/$triple/rustup-init
    scratch=$(as_learner mktemp -d)
    retry 3 as_learner curl --proto '=https' --tlsv1.2 -fsSL -o "$scratch/rustup-init" "$url"
    retry 3 as_learner curl --proto '=https' --tlsv1.2 -fsSL -o "$scratch/rustup-init.sha256" "$url.sha256"
    expected=$(cut -d' ' -f1 <"$scratch/rustup-init.sha256")
    actual=$(sha256sum "$scratch/rustup-init" | cut -d' ' -f1)
    [ "$expected" = "$actual" ] || die "rustup-init from $url has checksum $actual, expected $expected"
    chmod 755 "$scratch/rustup-init"
    # No toolchain yet: the next step chooses it. PATH is /etc/profile.d's job (below).
    as_learner env RUSTUP_INIT_SKIP_PATH_CHECK=yes "$scratch/rustup-init" -y --no-modify-path \
        --profile minimal --default-toolchain none
    rm -rf "$scratch"
    scratch=
    did "installed rustup in $cargo_home/bin"
}

step_toolchain() {
    step "Rust $RUST_NEEDED or newer, with rustfmt and clippy"
    version=$(as_learner rustc --version 2>/dev/null | cut -d' ' -f2)
    components=$(as_learner rustup component list --installed 2>/dev/null) || components=
    if version_ge "$version" "$RUST_NEEDED"; then
        if has rustfmt && has clippy; then
            ok "rustc $version, rustfmt, clippy"
            return
        fi
        as_learner rustup component add rustfmt clippy
        did "added rustfmt and clippy to rustc $version"
        return
    fi
    retry 3 as_learner rustup toolchain install stable --profile minimal --component rustfmt \
        --component clippy --no-self-update
    as_learner rustup default stable
    version=$(as_learner rustc --version | cut -d' ' -f2)
    version_ge "$version" "$RUST_NEEDED" || die "rustc is $version after installing stable: $RUST_NEEDED is needed"
    did "installed Rust $version (stable), $learner's default toolchain"
}

step_target_dir() {
    step "cargo builds in $target_dir, on the VM's own disk"
    config=$cargo_home/config.toml
    line="target-dir = \"$target_dir\""
    if [ -f "$config" ] && grep -qxF "$line" "$config"; then
        ok "$config says so"
        return
    fi
    if [ -f "$config" ] && grep -q '^\[build\]' "$config"; then
        die "$config already has a [build] table: add the line '$line' to it"
    fi
    as_learner mkdir -p "$target_dir"
    # shellcheck disable=SC2016 # $1 is for the inner shell
    printf '%s\n' "# Written by tools/provision.sh --vm: the synced folder is no place for builds." \
        "[build]" "$line" | as_learner sh -c 'cat >>"$1"' sh "$config"
    did "wrote $config"
}

step_book_tools() {
    step "the book's tools: mdbook $MDBOOK, mdbook-mermaid $MDBOOK_MERMAID"
    added=
    # One throwaway target directory for both (cargo install would otherwise use the
    # workspace's): mdbook-mermaid then reuses the crates that mdbook's build compiled.
    scratch=$(as_learner mktemp -d)
    book_tool mdbook "mdbook v$MDBOOK" "mdbook@$MDBOOK"
    book_tool mdbook-mermaid "mdbook-mermaid $MDBOOK_MERMAID" "mdbook-mermaid@$MDBOOK_MERMAID"
    rm -rf "$scratch"
    scratch=
    if [ -z "$added" ]; then
        ok "both installed"
    else
        did "installed$added"
    fi
}

# book_tool PROGRAM "WHAT --version PRINTS" CRATE@VERSION
book_tool() {
    have=$(as_learner "$1" --version 2>/dev/null) || have=
    [ "$have" != "$2" ] || return 0
    printf '    installing %s (it compiles for a few minutes)\n' "$3"
    retry 3 as_learner env CARGO_TARGET_DIR="$scratch" cargo install --locked "$3"
    added="$added $3"
}

step_fetch() {
    step "the workspace's crates, from crates.io"
    host=$(as_learner rustc -vV | sed -n 's/^host: //p')
    if as_learner cargo fetch --locked --offline --target "$host" >/dev/null 2>&1; then
        ok "all in $cargo_home/registry"
        return
    fi
    retry 3 as_learner cargo fetch --locked --target "$host"
    did "downloaded them"
}

step_build() {
    step "build the workspace and its tests (cargo build --workspace --bins --tests), as $learner"
    # Not the maintainers' tools (maint/): a learner never runs them.
    log=$(mktemp)
    if ! as_learner cargo build --workspace --exclude minibox-maint --bins --tests --locked --message-format=json >"$log"; then
        rm -f "$log"
        # The JSON holds the compiler's messages; build again to show them as usual.
        as_learner cargo build --workspace --exclude minibox-maint --bins --tests --locked || true
        die "the workspace does not build (the errors are above)"
    fi
    if grep -q '"fresh":false' "$log"; then
        did "built; the first lab starts in seconds"
    else
        ok "up to date"
    fi
    rm -f "$log"
}

step_profile() {
    step "cargo on every login shell's PATH"
    # shellcheck disable=SC2016 # the login shell expands $HOME and $PATH, not this one
    text='# Written by the minibox workshop'"'"'s tools/provision.sh: rustup'"'"'s tools for login shells.
if [ -d "$HOME/.cargo/bin" ]; then
    case ":$PATH:" in
        *":$HOME/.cargo/bin:"*) ;;
        *) PATH="$HOME/.cargo/bin:$PATH"; export PATH ;;
    esac
fi'
    if [ "$vm" = yes ]; then
        text="$text
# The classroom VM: a login starts in the workshop's repository.
if [ \"\$(id -un)\" = \"$learner\" ] && [ \"\$PWD\" = \"\$HOME\" ] && [ -d \"$repo\" ]; then
    cd \"$repo\" || true
fi"
    fi
    write_file /etc/profile.d/minibox.sh "$text"
}

# write_file PATH TEXT: write TEXT (and a newline) to PATH unless it is there already.
write_file() {
    if [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; then
        ok "$1 is current"
        return
    fi
    printf '%s\n' "$2" >"$1"
    did "wrote $1"
}

step_book_service() {
    step "the book, served on port $BOOK_PORT by systemd (minibox-book.service)"
    if [ ! -d /run/systemd/system ]; then
        ok "skipped: systemd does not run this machine; serve it yourself: mdbook serve book"
        return
    fi
    unit=/etc/systemd/system/minibox-book.service
    text="# Written by tools/provision.sh --vm: the workshop's book at http://localhost:$BOOK_PORT
[Unit]
Description=The minibox workshop's book (mdbook serve, port $BOOK_PORT)
After=network.target
# The repository is a synced folder that Vagrant mounts after boot: retry until it is there.
StartLimitIntervalSec=0

[Service]
User=$learner
WorkingDirectory=$learner_home
Environment=HOME=$learner_home PATH=$cargo_home/bin:/usr/local/bin:/usr/bin:/bin
ExecStart=$cargo_home/bin/mdbook serve --hostname 0.0.0.0 --port $BOOK_PORT --dest-dir $book_dir $repo/book
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target"
    if [ -f "$unit" ] && [ "$(cat "$unit")" = "$text" ] &&
        systemctl is-enabled --quiet minibox-book && systemctl is-active --quiet minibox-book; then
        ok "running: http://localhost:$BOOK_PORT from the host"
        return
    fi
    printf '%s\n' "$text" >"$unit"
    systemctl daemon-reload
    systemctl enable --quiet minibox-book
    systemctl restart minibox-book
    did "started minibox-book.service: http://localhost:$BOOK_PORT from the host"
}

step_login_shell() {
    step "$learner logs in to bash"
    shell=$(getent passwd "$learner" | cut -d: -f7)
    if [ "$shell" != /bin/sh ]; then
        ok "$learner's shell is $shell"
        return
    fi
    usermod --shell /bin/bash "$learner"
    did "$learner's shell was /bin/sh, now /bin/bash"
}

# ---- the run ------------------------------------------------------------------------------------

printf 'provision: learner %s (%s), workspace %s, classroom VM extras: %s\n' \
    "$learner" "$learner_home" "$repo" "$vm"
current="checking that $learner can write to the workspace"
as_learner test -w "$repo" || die "$learner cannot write to $repo: give it to them (chown -R $learner $repo)"

step_packages
step_docker_cli
step_rustup
step_toolchain
[ "$vm" = no ] || step_target_dir
step_book_tools
step_fetch
step_build
step_profile
if [ "$vm" = yes ]; then
    step_book_service
    step_login_shell
fi

step_done
step_started=$(date +%s)
current="cargo xtask doctor"
printf '==> %s (a check, it changes nothing)\n' "$current"
as_learner cargo xtask doctor

# The reference runtime, on its built-in default: a busybox image made from busybox-static.
step_done
step_started=$(date +%s)
current="a first container"
printf '==> %s (minibox run; it changes nothing on the host)\n' "$current"
if [ "$vm" = yes ]; then built=$target_dir; else built=$repo/target; fi
# shellcheck disable=SC2016 # $$ and $(hostname) are for the container's shell to expand
# --network none: a bridged container would leave the bridge minibox0 and its NAT table behind
# (they stay for the next container, as docker0 does), and this step changes nothing on the host.
"$built/debug/minibox" run --network none --hostname hello -- sh -c 'echo "hello from a container: I am PID $$ on $(hostname)"' ||
    die "the reference runtime could not run a container (see above; cargo xtask doctor lists what is missing)"
step_done

elapsed=$(($(date +%s) - started))
if [ "$changed" -eq 0 ]; then
    printf 'provision: nothing to do: all %s steps were already done (%s s)\n' "$steps" "$elapsed"
else
    printf 'provision: %s of %s steps changed something (%s s)\n' "$changed" "$steps" "$elapsed"
fi
