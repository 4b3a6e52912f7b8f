#!/bin/bash
# The autohealing test's VM boot (run by cloud-init's runcmd as `bash FILE IMAGE`): format the
# stateful disk if it is blank, mount it, and start the web container's unit. The unit never
# restarts the container, so a killed container stays down until the group heals the VM.
set -euo pipefail
image=$1
dev=/dev/disk/by-id/google-state
mnt=/mnt/disks/state
if [ -z "$(blkid -p -s TYPE -o value "$dev" || true)" ]; then
  echo "autoheal-web: $dev is blank: formatting it as ext4"
  mkfs.ext4 -q -m 0 -F "$dev"
fi
mkdir -p "$mnt"
mountpoint -q "$mnt" || mount -o discard,defaults "$dev" "$mnt"
cat > /etc/systemd/system/autoheal-web.service <<UNIT
[Unit]
Description=the autohealing test's web container
Wants=docker.socket
After=docker.socket

[Service]
Restart=no
ExecStartPre=-/usr/bin/docker rm -f web
ExecStart=/usr/bin/docker run --rm --name web --network host -e PORT=8080 -e DATA=/data -v $mnt:/data $image
ExecStop=/usr/bin/docker stop web
UNIT
# COS's host firewall drops inbound traffic: open the port the health check probes.
iptables -w -C INPUT -p tcp --dport 8080 -j ACCEPT 2>/dev/null || iptables -w -A INPUT -p tcp --dport 8080 -j ACCEPT
systemctl daemon-reload
systemctl start --no-block autoheal-web.service
