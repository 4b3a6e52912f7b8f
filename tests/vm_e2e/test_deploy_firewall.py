"""One VM, fw-1 (vars/firewall.yml), deployed by playbooks/deploy.yml under COS's host firewall
(INPUT policy DROP for IPv4 and IPv6). The simulator's port forwards arrive on the VM's interface,
so a port answers only when the product opened it:

- web's declared tcp 80 answers at the VM's IPv4 and IPv6 addresses;
- hidden serves tcp 8080 but declares 5355/udp: 8080 answers inside the VM, never from outside;
- udp: 5353 (cos_deploy_firewall.extra_ports) and 5355 (the container's ports) reach a server in
  the VM over IPv4 and IPv6; 5354 (declared nowhere) does not.
"""

import socket
import urllib.error
import urllib.request

import pytest

from conftest import http_get, wait_for
from localgce.vm.relay import NetNS

UDP_OPEN, UDP_CLOSED = (5353, 5355), 5354
UDP_SERVER = r"""
import socket, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", port))
while True:
    data, peer = s.recvfrom(2048)
    with open("/run/udp-%d.log" % port, "a") as f:
        f.write(data.decode() + "\n")
    s.sendto(data, peer)
"""


@pytest.fixture(scope="module")
def fw(e2e, tmp_path_factory):
    run = e2e.deploy(tmp_path_factory.mktemp("deploy"), "firewall.yml")
    assert run.rc == 0, run
    vm = e2e.vm("fw-1")
    wait_for(lambda: vm.exec(["curl", "-sf", "http://127.0.0.1:8080/"]).stdout == "web v1\n",
             "hidden serving 8080 inside the VM", tries=480)
    return vm


def no_answer(url):
    try:
        with urllib.request.urlopen(url, timeout=120) as resp:
            return "answered %d: %r" % (resp.status, resp.read())
    except OSError as exc:  # URLError, RemoteDisconnected: the VM never accepted the relay's connection
        return exc


def udp_echo(vm, family, port, payload, tries=60):
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


def test_declared_tcp_port_answers_over_ipv4_and_ipv6(e2e, fw):
    assert e2e.http_body("fw-1", 80) == "web v1\n"
    assert http_get(e2e.url_of("fw-1", 80, ipv6=True)) == "web v1\n"
    # The unit opened it for both families, once.
    for tool in ("iptables", "ip6tables"):
        rules = fw.exec([tool, "-w", "-S", "INPUT"]).stdout.splitlines()
        assert rules[0] == "-P INPUT DROP", rules
        assert rules.count("-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT") == 1, rules


def test_undeclared_tcp_port_does_not_answer(e2e, fw):
    assert fw.exec(["curl", "-sf", "http://127.0.0.1:8080/"]).stdout == "web v1\n"  # it serves, inside
    for ipv6 in (False, True):
        got = no_answer(e2e.url_of("fw-1", 8080, ipv6=ipv6))
        assert isinstance(got, Exception), (ipv6, got)


def test_declared_udp_ports_answer_undeclared_does_not(fw):
    for port in (*UDP_OPEN, UDP_CLOSED):
        fw.exec(["systemd-run", "--unit=udp-echo-%d" % port, "/usr/bin/python3", "-c", UDP_SERVER, str(port)],
                check=True)
        wait_for(lambda p=port: fw.exec(["bash", "-c", "echo lo > /dev/udp/127.0.0.1/%d; grep -qx lo /run/udp-%d.log"
                                         % (p, p)]).returncode == 0, "udp server %d up" % port, tries=240)
    for family in (socket.AF_INET, socket.AF_INET6):
        tag = "v4" if family == socket.AF_INET else "v6"
        udp_echo(fw, family, UDP_CLOSED, b"closed-" + tag.encode(), tries=1)
        for port in UDP_OPEN:
            assert udp_echo(fw, family, port, b"open-" + tag.encode()) == b"open-" + tag.encode(), (port, tag)
        # The undeclared port's datagram went first, on the same link: it was dropped, not late.
        assert "closed-" + tag not in fw.exec(["cat", "/run/udp-%d.log" % UDP_CLOSED]).stdout.split()
