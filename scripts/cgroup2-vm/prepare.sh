#!/usr/bin/env bash
# Prepares (once, cached) the kernel for the cgroup v2 test VM and prints the directory holding it:
#   DIR/vmlinux      the uncompressed Debian generic kernel (QEMU PVH-boots the ELF directly;
#                    decompressing the xz bzImage under TCG would cost ~4.5 s per boot)
#   DIR/modules/     NN-name.ko: virtio-mmio, virtio-blk and 9p with their dependencies, in load order
#   DIR/release      the kernel release (e.g. 6.1.0-56-amd64)
# Nothing is installed: the .deb is fetched with `apt-get download` and unpacked with dpkg-deb in a
# scratch directory, so /boot and the host's module tree are left alone.
#
# Environment: NSRUN_VM_CACHE (default: <checkout>/.cache/cgroup2-vm), NSRUN_VM_KERNEL_PKG
# (default: what linux-image-amd64 depends on in apt's lists, e.g. linux-image-6.1.0-56-amd64).
# The generic image, not -cloud-: the cloud kernel has no 9p.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${NSRUN_VM_CACHE:-$here/../../.cache/cgroup2-vm}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

say() { echo "cgroup2-vm: $*" >&2; }
die() { say "$*"; exit 1; }

# Modules the guest's /init loads; their dependencies are added from each module's modinfo.
# virtio_mmio: microvm's devices; virtio_blk: /dev/vda for io.max; 9p + 9pnet_virtio: the shares.
WANTED_MODULES=(virtio_mmio virtio_blk 9pnet_virtio 9p)

# Which kernel package: the one the generic metapackage points at in apt's current lists.
pkg=${NSRUN_VM_KERNEL_PKG:-}
if [[ -z $pkg ]]; then
  # apt-cache takes 0.5-2 s; its answer changes only when apt-get update rewrites the lists.
  stamp=$(stat -c %Y /var/lib/apt/lists 2>/dev/null) || stamp=none
  if [[ -f $cache/choice ]] && read -r was chosen <"$cache/choice" && [[ $was == "$stamp" ]]; then
    pkg=$chosen
  else
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ {print $2; exit}') || true
    if [[ -n $pkg ]]; then
      echo "$stamp $pkg" >"$cache/choice.$$" && mv "$cache/choice.$$" "$cache/choice"
    fi
  fi
fi
if [[ -z $pkg ]]; then
  # No apt lists (offline, not Debian): fall back to a kernel prepared earlier.
  pkg=$(ls -1 "$cache" 2>/dev/null | grep '^linux-image-' | sort -V | tail -1) || true
  [[ -n $pkg ]] || die "cannot tell which kernel to use: apt-cache knows no linux-image-amd64 (run apt-get update) and $cache is empty; set NSRUN_VM_KERNEL_PKG"
fi
dir=$cache/$pkg
if [[ -f $dir/release ]]; then echo "$dir"; exit 0; fi

# Two runs may prepare at once: one does the work, the other waits and reuses it.
exec 9>"$cache/.lock"
flock 9
if [[ -f $dir/release ]]; then echo "$dir"; exit 0; fi

say "preparing $pkg in $dir (once)"
tmp=$(mktemp -d "$cache/.prepare.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# As root, apt would try to drop to _apt, which cannot write into our scratch directory.
sandbox=(); [[ $EUID -eq 0 ]] && sandbox=(-o APT::Sandbox::User=root)
(cd "$tmp" && apt-get download -q "${sandbox[@]}" "$pkg" >&2) || die "apt-get download $pkg failed (try apt-get update)"
dpkg-deb -x "$tmp"/*.deb "$tmp/x"

vmlinuz=$(ls "$tmp"/x/boot/vmlinuz-* | head -1)
release=${vmlinuz##*/vmlinuz-}
mkdir -p "$tmp/out/modules"

# The bzImage carries the kernel as one xz stream: find its magic, decompress that stream alone.
off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1)
[[ -n $off ]] || die "$vmlinuz: no xz stream found (not an xz-compressed bzImage?)"
tail -c +$((off + 1)) "$vmlinuz" | xz -dc --single-stream >"$tmp/out/vmlinux" 2>/dev/null || true
[[ $(head -c 4 "$tmp/out/vmlinux" | od -An -c | tr -d ' ') == 177ELF ]] || die "$vmlinuz: the xz stream is not an ELF kernel"

# Load order: every module after its dependencies. The .deb has no modules.dep (depmod makes it at
# install time), so read each module's own "depends=" from its .modinfo strings.
moddir=$tmp/x/lib/modules/$release
declare -A path=() seen=()
while IFS= read -r file; do
  name=${file##*/}; name=${name%%.ko*}
  path[${name//-/_}]=$file
done < <(find "$moddir" -name '*.ko*')

modinfo_depends() {
  local f=$1
  case $f in
    *.ko.xz) xz -dc "$f" ;;
    *.ko.zst) zstd -qdc "$f" ;;
    *) cat "$f" ;;
  esac | tr '\0' '\n' | sed -n 's/^depends=//p' | head -1 | tr ',-' ' _'
}

order=()
add() {
  local m=$1 d
  [[ -n ${seen[$m]:-} ]] && return
  seen[$m]=1
  if [[ -z ${path[$m]:-} ]]; then
    grep -q "/${m}.ko\$" "$moddir/modules.builtin" 2>/dev/null && return  # built in: nothing to load
    die "module $m is neither in the package nor built into $release"
  fi
  for d in $(modinfo_depends "${path[$m]}"); do add "$d"; done
  order+=("$m")
}
for m in "${WANTED_MODULES[@]}"; do add "$m"; done

i=10
for m in "${order[@]}"; do
  src=${path[$m]}
  dst=$tmp/out/modules/$i-$m.ko
  case $src in
    *.ko.xz) xz -dc "$src" >"$dst" ;;
    *.ko.zst) zstd -qdc "$src" >"$dst" ;;
    *) cp "$src" "$dst" ;;
  esac
  i=$((i + 1))
done
echo "$release" >"$tmp/out/release"

rm -rf "$dir"
mv "$tmp/out" "$dir"
say "kernel $release ready ($(du -sh "$dir" | cut -f1)): modules ${order[*]}"
echo "$dir"
