#!/usr/bin/env bash
# Runs a command on another CPU class: a real Debian Linux kernel booted under QEMU's software
# CPU (TCG) with a chosen CPU model, sharing this machine's root file system, so sigframe's live
# tests, `sigframe capture` and `size --measure` see that CPU's CPUID, XCR0 and signal frames
# from a real kernel. Used to capture the AVX2-only fixtures (test/fixtures/*/README.md say
# which); not part of CI.
#
#   scripts/cpu-lab.sh [--cpu MODEL] [--append "BOOT OPTIONS"] [--mem MB] -- COMMAND...
#
# MODEL is a QEMU CPU model (default EPYC-Milan,-pku: AMD Zen 3 without PKU, XCR0 0x7). The
# command runs as root in the guest, in the current directory; its output and exit status come
# back. Needs qemu-system-x86, busybox-static and curl (apt-get install qemu-system-x86
# busybox-static curl); the kernel is Debian's, fetched once into $SIGFRAME_LAB.
#
# What the emulator does not model: TCG keeps no XINUSE (XSAVE writes every requested
# component as in use), has no AVX-512, and its XSAVE offsets are Intel's fixed ones. Frame
# sizes, placement and everything the kernel computes are the real kernel's.
set -euo pipefail

cpu="EPYC-Milan,-pku"
append=""
mem=4096
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) cpu="$2"; shift 2 ;;
    --append) append="$2"; shift 2 ;;
    --mem) mem="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "cpu-lab: unknown option $1 (usage: $0 [--cpu MODEL] [--append OPTS] -- COMMAND...)" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "cpu-lab: no command given" >&2; exit 2; }
for tool in qemu-system-x86_64 curl zstd xz dpkg; do
  command -v "$tool" >/dev/null || { echo "cpu-lab: needs $tool" >&2; exit 2; }
done
# The initramfs runs before any library is there: only a static busybox will do.
busybox_bin=/bin/busybox
[ -x "$busybox_bin" ] || { echo "cpu-lab: needs a static /bin/busybox (apt-get install busybox-static)" >&2; exit 2; }

lab="${SIGFRAME_LAB:-$HOME/.cache/sigframe-lab}"
deb_url="${SIGFRAME_LAB_KERNEL:-http://deb.debian.org/debian/pool/main/l/linux-signed-amd64/linux-image-6.18.15+deb13-amd64_6.18.15-1~bpo13+1_amd64.deb}"
kdir="$lab/$(basename "$deb_url" .deb)"
mkdir -p "$lab"

if [ ! -f "$kdir/vmlinux" ]; then
  echo "cpu-lab: fetching $deb_url" >&2
  curl -fsS -m 900 -o "$lab/kernel.deb" "$deb_url"
  rm -rf "$kdir.tmp" && mkdir -p "$kdir.tmp"
  dpkg -x "$lab/kernel.deb" "$kdir.tmp/root"
  vmlinuz=$(ls "$kdir.tmp"/root/boot/vmlinuz-*)
  # Booted as an ELF through PVH: QEMU loads vmlinux directly, without the decompressor.
  off=$(grep -abo $'\x28\xb5\x2f\xfd' "$vmlinuz" | head -1 | cut -d: -f1)
  tail -c +$((off + 1)) "$vmlinuz" | zstd -dcq > "$kdir.tmp/vmlinux" 2>/dev/null || true
  mods=$(ls -d "$kdir.tmp"/root/usr/lib/modules/* 2>/dev/null || ls -d "$kdir.tmp"/root/lib/modules/*)
  mkdir -p "$kdir.tmp/initrd/bin" "$kdir.tmp/initrd/mods"
  cp "$busybox_bin" "$kdir.tmp/initrd/bin/busybox"
  for m in fs/netfs/netfs net/9p/9pnet net/9p/9pnet_virtio fs/9p/9p; do
    xz -dc "$mods/kernel/$m.ko.xz" > "$kdir.tmp/initrd/mods/$(basename "$m").ko"
  done
  cat > "$kdir.tmp/initrd/init" <<'EOF'
#!/bin/busybox sh
b=/bin/busybox
$b mkdir -p /proc /sys /dev /mnt/root
$b mount -t proc proc /proc && $b mount -t sysfs sys /sys && $b mount -t devtmpfs dev /dev
for m in netfs 9pnet 9pnet_virtio 9p; do $b insmod /mods/$m.ko; done
$b mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose host /mnt/root
$b mount -t proc proc /mnt/root/proc && $b mount -t sysfs sys /mnt/root/sys
$b mount -t devtmpfs dev /mnt/root/dev && $b mount -t tmpfs tmp /mnt/root/tmp
job=$($b sed -n 's/.*lab.job=\([^ ]*\).*/\1/p' /proc/cmdline)
$b chroot /mnt/root /bin/bash "$job/run.sh"
$b sync
$b poweroff -f
EOF
  chmod +x "$kdir.tmp/initrd/init"
  (cd "$kdir.tmp/initrd" && find . | "$busybox_bin" cpio -o -H newc 2>/dev/null | gzip > ../initrd.gz)
  rm -rf "$kdir.tmp/root" "$kdir.tmp/initrd" "$lab/kernel.deb"
  rm -rf "$kdir" && mv "$kdir.tmp" "$kdir"
fi

# The guest mounts a fresh /tmp, so the job directory lives under $SIGFRAME_LAB instead.
job=$(mktemp -d "$lab/job.XXXXXX")
trap 'rm -rf "$job"' EXIT
{
  echo "cd $(printf '%q' "$PWD")"
  echo "export PATH=$(printf '%q' "$PATH") HOME=$(printf '%q' "$HOME") CI=${CI:-} SIGFRAME_CACHE=/tmp/sigframe-cache"
  printf '%q ' "$@"; echo "> $job/out 2>&1"
  echo "echo \$? > $job/rc"
} > "$job/run.sh"

qemu-system-x86_64 -accel tcg,thread=multi -cpu "$cpu" -m "$mem" -smp 2 -nographic -no-reboot \
  -kernel "$kdir/vmlinux" -initrd "$kdir/initrd.gz" \
  -append "console=ttyS0 quiet panic=-1 lab.job=$job $append" \
  -virtfs local,path=/,mount_tag=host,security_model=none,id=host,multidevs=remap \
  > "$job/console" 2>&1 || true
cat "$job/out" 2>/dev/null || true
if [ ! -f "$job/rc" ]; then
  echo "cpu-lab: the guest did not finish the command; console:" >&2
  tail -20 "$job/console" >&2
  exit 70
fi
exit "$(cat "$job/rc")"
