"""COS's host firewall in the simulated VM: default DROP on INPUT for IPv4 and IPv6 at every boot,
and port forwards that arrive on the VM's interface (not its loopback), so only declared ports answer.

Servers in the VM listen on every address (IPv4 and IPv6) on tcp 8081 (declared by the user-data's
runcmd, as the product's units do) and 8082 (not declared), and udp 5353 (declared) and 5354 (not).
"""

import json
import socket
import urllib.error
import urllib.request

import pytest

from localgce.vm.machine import VirtualMachine
from localgce.vm.relay import NetNS
from localgce.vm.testimage import http_get_eventually

NAME, INSTANCE_ID = "vm-fw-1", "4343434343"
OPEN_TCP, CLOSED_TCP, OPEN_UDP, CLOSED_UDP = 8081, 8082, 5353, 5354

SERVER = r"""#!/usr/bin/python3
# tcp: an HTTP server answering its port; udp: echoes, and records what it received.
import http.server, socket, sys, threading
kind, port = sys.argv[1], int(sys.argv[2])
if kind == "tcp":
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = ("tcp %d\n" % port).encode()
            self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
            self.wfile.write(body)
    class S(http.server.ThreadingHTTPServer):
        address_family = socket.AF_INET6
        def server_bind(self):
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            super().server_bind()
    S(("::", port), H).serve_forever()
else:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    while True:
        data, peer = s.recvfrom(2048)
        with open("/run/udp-%d.log" % port, "a") as f:
            f.write(data.decode() + "\n")
        s.sendto(data, peer)
"""

USER_DATA = """#cloud-config
write_files:
- path: /etc/fw-server
  permissions: "0755"
  content: %s
runcmd:
- [systemd-run, --unit=fw-tcp-%d, /usr/bin/python3, /etc/fw-server, tcp, "%d"]
- [systemd-run, --unit=fw-tcp-%d, /usr/bin/python3, /etc/fw-server, tcp, "%d"]
- [systemd-run, --unit=fw-udp-%d, /usr/bin/python3, /etc/fw-server, udp, "%d"]
- [systemd-run, --unit=fw-udp-%d, /usr/bin/python3, /etc/fw-server, udp, "%d"]
- iptables -w -A INPUT -p tcp --dport %d -j ACCEPT
- ip6tables -w -A INPUT -p tcp --dport %d -j ACCEPT
- iptables -w -A INPUT -p udp --dport %d -j ACCEPT
- ip6tables -w -A INPUT -p udp --dport %d -j ACCEPT
""" % (json.dumps(SERVER), *[p for p in (OPEN_TCP, CLOSED_TCP, OPEN_UDP, CLOSED_UDP) for _ in (1, 2)],
       OPEN_TCP, OPEN_TCP, OPEN_UDP, OPEN_UDP)

COS_RULES = {  # what COS's iptables-setup / ip6tables-setup leave, as `iptables -S INPUT` prints them
    "iptables": ["-P INPUT DROP", "-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT",
                 "-A INPUT -i lo -j ACCEPT", "-A INPUT -p icmp -j ACCEPT",
                 "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"],
    "ip6tables": ["-P INPUT DROP", "-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT",
                  "-A INPUT -i lo -j ACCEPT", "-A INPUT -p ipv6-icmp -j ACCEPT",
                  "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"],
}


@pytest.fixture(scope="module")
def vm(rootfs, upstream, workdir):
    upstream.instance(NAME, INSTANCE_ID, USER_DATA)
    machine = VirtualMachine(workdir + "/instances/" + NAME, rootfs=rootfs)
    try:
        machine.boot(INSTANCE_ID, NAME, metadata_url=upstream.guest_url(NAME),
                     port_forwards=[OPEN_TCP, CLOSED_TCP], network_ip="10.128.0.7")
        yield machine
    finally:
        machine.destroy()


def sh(vm, script):
    return vm.exec(["/bin/bash", "-c", script])


def wait_servers(vm):
    """Every server answers inside the VM on loopback (so a port that fails from outside is the firewall's doing)."""
    script = ("for i in $(seq 600); do curl -sf http://127.0.0.1:%d/ >/dev/null && curl -sf http://[::1]:%d/ "
              ">/dev/null && exit 0; sleep 0.2; done; exit 1" % (CLOSED_TCP, OPEN_TCP))
    r = sh(vm, script)
    assert r.returncode == 0, "servers never came up: " + sh(vm, "systemctl status 'fw-*'; cloud-init status").stdout
    for port in (OPEN_UDP, CLOSED_UDP):
        r = sh(vm, "for i in $(seq 600); do grep -qx lo-%d /run/udp-%d.log 2>/dev/null && exit 0; "
                   "echo lo-%d > /dev/udp/127.0.0.1/%d; sleep 0.2; done; exit 1" % (port, port, port, port))
        assert r.returncode == 0, "udp server %d never came up" % port


def http_fails(url):
    """The request gets no HTTP answer: the relay's connection to the VM was never accepted."""
    try:
        with urllib.request.urlopen(url, timeout=120) as resp:
            return "answered %d: %r" % (resp.status, resp.read())
    except (urllib.error.URLError, ConnectionError, OSError) as exc:
        return exc


def udp_exchange(vm, family, port, payload, tries=50):
    """Send from the VM's network (the namespace at the other end of its interface); the echo, or None."""
    addr = vm.addresses[0 if family == socket.AF_INET else 1]
    ns = NetNS(vm.network_netns)
    s = ns.socket(family, socket.SOCK_DGRAM)
    try:
        s.settimeout(0.5)
        for _ in range(tries):
            s.sendto(payload, (addr, port))
            try:
                return s.recv(2048)
            except TimeoutError:
                continue
        return None
    finally:
        s.close()
        ns.close()


def test_cos_default_drop_rules_nf_tables(vm):
    assert "nf_tables" in vm.exec(["iptables", "-V"]).stdout
    for tool, rules in COS_RULES.items():
        got = vm.exec([tool, "-w", "-S", "INPUT"]).stdout.splitlines()
        assert got[:len(rules)] == rules, (tool, got)
    for unit in ("iptables-setup.service", "ip6tables-setup.service"):
        assert vm.exec(["systemctl", "is-active", unit]).stdout.strip() == "active"
    # In place before cloud-init started (so before the user's part ran).
    def when(prop, unit):
        return int(vm.exec(["systemctl", "show", "-P", prop, unit]).stdout.strip() or 0)

    for unit in ("iptables-setup.service", "ip6tables-setup.service"):
        done = when("ActiveEnterTimestampMonotonic", unit)
        for later in ("cloud-init.service", "cloud-final.service"):
            started = when("InactiveExitTimestampMonotonic", later)
            assert 0 < done <= started, (unit, done, later, started)


def test_declared_tcp_port_answers_over_ipv4_and_ipv6(vm):
    wait_servers(vm)
    assert http_get_eventually("http://127.0.0.1:%d/" % vm.ports[OPEN_TCP]) == "tcp %d\n" % OPEN_TCP
    assert http_get_eventually("http://127.0.0.1:%d/" % vm.ports6[OPEN_TCP]) == "tcp %d\n" % OPEN_TCP


def test_undeclared_tcp_port_does_not_answer_over_ipv4_or_ipv6(vm):
    wait_servers(vm)
    assert sh(vm, "curl -sf http://127.0.0.1:%d/" % CLOSED_TCP).stdout == "tcp %d\n" % CLOSED_TCP
    for port in (vm.ports[CLOSED_TCP], vm.ports6[CLOSED_TCP]):
        got = http_fails("http://127.0.0.1:%d/" % port)
        assert isinstance(got, Exception), got


def test_declared_udp_port_answers_undeclared_does_not(vm):
    wait_servers(vm)
    for family in (socket.AF_INET, socket.AF_INET6):
        tag = "v%d" % (4 if family == socket.AF_INET else 6)
        # The undeclared port first: its datagram was filtered before the declared port's echo came back.
        udp_exchange(vm, family, CLOSED_UDP, b"closed-" + tag.encode(), tries=1)
        assert udp_exchange(vm, family, OPEN_UDP, b"open-" + tag.encode()) == b"open-" + tag.encode()
        log = vm.exec(["cat", "/run/udp-%d.log" % CLOSED_UDP]).stdout.split()
        assert "closed-" + tag not in log, log
        assert "open-" + tag in vm.exec(["cat", "/run/udp-%d.log" % OPEN_UDP]).stdout.split()


def test_reboot_drops_rules_added_after_boot(vm):
    """A rule added at run time (as konlet added its own) lasts until the next reboot, as on COS."""
    wait_servers(vm)
    for tool in ("iptables", "ip6tables"):
        rule = ["INPUT", "-p", "tcp", "--dport", str(CLOSED_TCP), "-j", "ACCEPT"]
        assert vm.exec([tool, "-w", "-A", *rule]).returncode == 0
    assert http_get_eventually("http://127.0.0.1:%d/" % vm.ports[CLOSED_TCP]) == "tcp %d\n" % CLOSED_TCP
    vm.reset()
    wait_servers(vm)
    for tool, rules in COS_RULES.items():
        got = vm.exec([tool, "-w", "-S", "INPUT"]).stdout.splitlines()
        assert got[:len(rules)] == rules, (tool, got)
        assert not any("--dport %d" % CLOSED_TCP in r for r in got), got
        assert len([r for r in got if "--dport %d" % OPEN_TCP in r]) == 1, got
    assert http_get_eventually("http://127.0.0.1:%d/" % vm.ports6[OPEN_TCP]) == "tcp %d\n" % OPEN_TCP
    assert isinstance(http_fails("http://127.0.0.1:%d/" % vm.ports[CLOSED_TCP]), Exception)
