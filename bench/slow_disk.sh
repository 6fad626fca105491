#!/usr/bin/env bash
# A slow disk for benches: an ext4 file system on a loop device whose writes
# the block layer throttles to a given rate, buffered writeback included
# (the throttle sits on the root blkio cgroup, where the kernel's flusher
# threads run). Needs root and cgroup v1's blkio controller (mounted at
# /sys/fs/cgroup/blkio); loop devices only, the machine's disk is untouched.
#
# Usage: bench/slow_disk.sh up [MOUNTPOINT] [BYTES_PER_SECOND]   (default /mnt/slow, 50 MB/s)
#        bench/slow_disk.sh down [MOUNTPOINT]
# then e.g.: bash bench/peers.sh --dir /mnt/slow --shapes tcp1 --runs 3 ...
set -euo pipefail
cmd=${1:-}
mnt=${2:-/mnt/slow}
rate=${3:-52428800}
image=/var/tmp/logctl-slow-disk.$(basename "$mnt").img
throttle=/sys/fs/cgroup/blkio/blkio.throttle.write_bps_device
case $cmd in
  up)
    [ -w "$throttle" ] || { echo "no cgroup v1 blkio throttle at $throttle" >&2; exit 2; }
    mountpoint -q "$mnt" && { echo "$mnt is mounted already" >&2; exit 2; }
    truncate -s 8G "$image"
    dev=$(losetup --find --show "$image")
    mkfs.ext4 -q -F "$dev"
    mkdir -p "$mnt"
    mount "$dev" "$mnt"
    echo "$(lsblk -no MAJ:MIN "$dev" | tr -d ' ') $rate" >"$throttle"
    echo "$mnt: ext4 on $dev, writes throttled to $rate bytes/s"
    ;;
  down)
    dev=$(findmnt -no SOURCE "$mnt")
    echo "$(lsblk -no MAJ:MIN "$dev" | tr -d ' ') 0" >"$throttle"  # 0 lifts it
    umount "$mnt"
    losetup -d "$dev"
    rm -f "$image"
    ;;
  *)
    sed -n '2,10p' "$0"
    exit 2
    ;;
esac
