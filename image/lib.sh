# Shared helpers for image/* scripts (sourced, not executed).
# Conventions follow scripts/check-swift60: cache under $PROSCENIUM_CACHE (/var/tmp/proscenium),
# completion markers, flock, and a private mount namespace so mounts vanish with the process.

CACHE=${PROSCENIUM_CACHE:-/var/tmp/proscenium}
REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

say() { printf '[%s] %s\n' "${TOOL:-image}" "$*"; }
die() { printf '[%s] error: %s\n' "${TOOL:-image}" "$*" >&2; exit 1; }
now() { date +%s.%N; }
TIMINGS=()
timed() { # timed LABEL CMD... — runs CMD, records its wall time
    local label=$1; shift
    local t0; t0=$(now)
    local rc=0
    "$@" || rc=$?
    local dt; dt=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
    TIMINGS+=("$(printf '%-40s %8ss%s' "$label" "$dt" "$([ $rc -eq 0 ] || echo "  (FAILED, exit $rc)")")")
    say "$label: ${dt}s$([ $rc -eq 0 ] || echo " — FAILED (exit $rc)")"
    return $rc
}
print_timings() {
    [ ${#TIMINGS[@]} -gt 0 ] || return 0
    say "timings:"
    local line; for line in "${TIMINGS[@]}"; do printf '    %s\n' "$line"; done
}

require_root() { [ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot, mounts)"; }

# Re-exec the calling script in a private mount namespace (mounts disappear with it, even on kill).
enter_private_mountns() {
    if [ -z "${PROSCENIUM_IMAGE_IN_MOUNTNS:-}" ]; then
        export PROSCENIUM_IMAGE_IN_MOUNTNS=1
        exec unshare --mount --propagation private -- "$@"
    fi
}

mirror_uri() {
    if [ -n "${PROSCENIUM_DEBIAN_MIRROR:-}" ]; then echo "$PROSCENIUM_DEBIAN_MIRROR"; return; fi
    local f uri=""
    for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk 'BEGIN{RS=""; FS="\n"} {u=""; s=""; for(i=1;i<=NF;i++){ if($i ~ /^URIs:/){sub(/^URIs:[ \t]*/,"",$i); split($i,a,/[ \t]+/); u=a[1]} if($i ~ /^Suites:/) s=$i } if(u!="" && s !~ /-security/ && u !~ /security/){print u; exit}}' "$f")
        [ -n "$uri" ] && break
    done
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk '$1=="deb" && $0 !~ /security/ { for(i=2;i<=NF;i++) if($i ~ /^[a-z]+:\/\//){print $i; exit} }' /etc/apt/sources.list)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

# arm64 binaries run through qemu-user-static via binfmt_misc (flags PF: no copy into the chroot).
ensure_binfmt_aarch64() {
    command -v qemu-aarch64-static >/dev/null || die "qemu-user-static missing: apt-get install qemu-user-static binfmt-support"
    mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
        update-binfmts --enable qemu-aarch64 || die "could not register qemu-aarch64 with binfmt_misc"
    fi
    grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 || die "binfmt qemu-aarch64 is disabled"
}

MOUNTED=()
mount_chroot() { # mount_chroot ROOT [with-swift-packages]
    local root=$1
    mount --bind "$root" "$root";                    MOUNTED+=("$root")
    mkdir -p "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/run"
    mount -t proc proc "$root/proc";                 MOUNTED+=("$root/proc")
    mount -t sysfs sysfs "$root/sys";                MOUNTED+=("$root/sys")
    mount --bind /dev "$root/dev";                   MOUNTED+=("$root/dev")
    mount --bind /dev/pts "$root/dev/pts";           MOUNTED+=("$root/dev/pts")
    mount -t tmpfs -o mode=1777 tmpfs "$root/tmp";   MOUNTED+=("$root/tmp")
    mount -t tmpfs -o mode=755 tmpfs "$root/run";    MOUNTED+=("$root/run")
    if [ "${2:-}" = with-swift-packages ] && [ -d /opt/swift-packages ]; then
        mkdir -p "$root/opt/swift-packages"
        mount --bind /opt/swift-packages "$root/opt/swift-packages"
        mount -o remount,bind,ro "$root/opt/swift-packages"
        MOUNTED+=("$root/opt/swift-packages")
    fi
    # A rootfs with systemd-resolved has resolv.conf -> /run/systemd/resolve/…, dangling in a chroot:
    # replace it with the host's file (build-sd-image restores the link in the final image).
    [ -L "$root/etc/resolv.conf" ] && rm -f "$root/etc/resolv.conf"
    cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
}
unmount_chroot() {
    local i
    for (( i=${#MOUNTED[@]}-1; i>=0; i-- )); do umount -l "${MOUNTED[$i]}" 2>/dev/null || true; done
    MOUNTED=()
}

in_chroot() { # in_chroot ROOT 'shell command'
    chroot "$1" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        DEBIAN_FRONTEND=noninteractive /bin/bash -c "$2"
}

git_rules() { # the host's url.<base>.insteadOf rules, as gitconfig text
    git config --get-regexp '^url\..*\.insteadof$' 2>/dev/null | while read -r key value; do
        local base=${key#url.}; base=${base%.insteadof}
        printf '[url "%s"]\n\tinsteadOf = %s\n' "$base" "$value"
    done
}

# debootstrap_into ROOT ARCH SUITE LOG [extra debootstrap args...] — builds ROOT.partial, then renames.
debootstrap_into() {
    local root=$1 arch=$2 suite=$3 log=$4; shift 4
    local mirror; mirror=$(mirror_uri)
    command -v debootstrap >/dev/null || die "debootstrap missing"
    say "debootstrap --arch=$arch --variant=minbase $* $suite $root $mirror"
    rm -rf --one-file-system "$root.partial"
    debootstrap --arch="$arch" --variant=minbase "$@" "$suite" "$root.partial" "$mirror" >"$log" 2>&1 \
        || { tail -n 30 "$log" >&2; die "debootstrap failed (log: $log)"; }
    rm -rf --one-file-system "$root"
    mv "$root.partial" "$root"
}

logged() { # logged LOGFILE CMD... — shows and saves CMD's output, keeps its exit status
    local log=$1; shift
    "$@" 2>&1 | tee "$log"
    return "${PIPESTATUS[0]}"
}
