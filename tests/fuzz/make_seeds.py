#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/ (checked in; rerun only
to change them). Messages are built by hand so no DNS library is needed."""
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))


def name(n):
    out = b""
    for label in n.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def header(id_, flags, qd, an, ns, ar):
    return struct.pack("!HHHHHH", id_, flags, qd, an, ns, ar)


def question(n, t=1, c=1):
    return name(n) + struct.pack("!HH", t, c)


def rr(owner, t, ttl, rdata, c=1):
    o = owner if isinstance(owner, bytes) else name(owner)
    return o + struct.pack("!HHIH", t, c, ttl, len(rdata)) + rdata


def opt(size=1232, do=False, options=b"", version=0):
    return b"\0" + struct.pack("!HHIH", 41, size, (version << 16) | (0x8000 if do else 0), len(options)) + options


def query(n, t=1, id_=0x1234, rd=True, edns=None, cd=False):
    flags = (0x0100 if rd else 0) | (0x0010 if cd else 0)
    ar = 1 if edns is not None else 0
    return header(id_, flags, 1, 0, 0, ar) + question(n, t) + (edns or b"")


PTR = b"\xc0\x0c"  # pointer to the question name
A = lambda ip: bytes(int(x) for x in ip.split("."))
soa = name("ns.example.org") + name("admin.example.org") + struct.pack("!IIIII", 1, 7200, 3600, 1209600, 300)
cookie = struct.pack("!HH", 10, 8) + b"abcdefgh"
nsid = struct.pack("!HH", 3, 0)
padding = struct.pack("!HH", 12, 64) + b"\0" * 64


def reply(q_name, t, answers=(), auth=(), add=(), rcode=0, id_=0x1234, flags=0x8180, qtype=None):
    return (header(id_, flags | rcode, 1, len(answers), len(auth), len(add)) + question(q_name, qtype or t)
            + b"".join(answers) + b"".join(auth) + b"".join(add))


queries = {
    "a": query("example.org", 1),
    "aaaa_edns": query("www.example.org", 28, edns=opt()),
    "do_cookie": query("example.org", 1, edns=opt(4096, True, cookie + nsid)),
    "padding": query("example.org", 16, edns=opt(512, False, padding)),
    "badvers": query("example.org", 1, edns=opt(version=1)),
    "small_udp": query("example.org", 255, edns=opt(100)),
    "mixedcase": query("ExAmPlE.oRg", 1, cd=True),
    "root_ns": query(".", 2),
    "ptr": query("1.0.0.127.in-addr.arpa", 12),
    "escaped": header(1, 0x100, 1, 0, 0, 0) + b"\x05a.b\\c\x03org\x00" + struct.pack("!HH", 1, 1),
    "notify": header(2, 0x2000, 1, 0, 0, 0) + question("example.org", 6),
    "twoq": header(3, 0x100, 2, 0, 0, 0) + question("a.org") + question("b.org"),
    "chaos": header(4, 0x100, 1, 0, 0, 0) + question("version.bind", 16, 3),
}

replies = {
    "answer": reply("example.org", 1, [rr(PTR, 1, 300, A("192.0.2.1")), rr(PTR, 1, 60, A("192.0.2.2"))],
                    [rr(PTR, 2, 7200, name("ns.example.org"))], [rr(name("ns.example.org"), 1, 50, A("192.0.2.53"))]),
    "answer_opt": reply("example.org", 1, [rr(PTR, 1, 300, A("192.0.2.1"))], add=[opt(1232, True, cookie)]),
    "nxdomain": reply("nx.example.org", 1, auth=[rr(name("example.org"), 6, 3600, soa)], rcode=3),
    "nodata": reply("example.org", 28, auth=[rr(name("example.org"), 6, 300, soa)]),
    "servfail": reply("example.org", 1, rcode=2),
    "cname": reply("www.example.org", 1, [rr(PTR, 5, 300, name("example.org")),
                                           rr(name("example.org"), 1, 300, A("192.0.2.1"))]),
    "delegation": reply("sub.example.org", 1, auth=[rr(name("sub.example.org"), 2, 300, name("ns.sub.example.org"))],
                        flags=0x8100),
    "big": reply("example.org", 16, [rr(PTR, 16, 300, bytes([200]) + b"x" * 200) for _ in range(12)]),
    "rrsig": reply("example.org", 1, [rr(PTR, 1, 300, A("192.0.2.1")),
                                      rr(PTR, 46, 300, struct.pack("!HBBIIIH", 1, 13, 2, 300, 2000000000, 1600000000, 1)
                                         + name("example.org") + b"sig")], add=[opt(1232, True)]),
    "mx_srv": reply("example.org", 15, [rr(PTR, 15, 300, struct.pack("!H", 10) + b"\x04mail\xc0\x0c"),
                                        rr(PTR, 33, 300, struct.pack("!HHH", 0, 5, 53) + PTR)]),
    "loop_ptr": header(0x1234, 0x8180, 1, 1, 0, 0) + question("example.org") + b"\xc0\x1d" + struct.pack("!HHIH", 1, 1, 1, 4) + b"abcd",
    "truncated_rr": reply("example.org", 1, [rr(PTR, 1, 300, A("192.0.2.1"))])[:-2],
}


def write(target, fname, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, fname), "wb") as f:
        f.write(data)


for k, v in {**queries, **replies}.items():
    write("wire", k, v)
for k, v in queries.items():
    for mode in (0, 2, 7, 9):
        write("edns", f"{k}_{mode}", bytes([mode]) + v)

pairs = [("a", "answer"), ("aaaa_edns", "nodata"), ("do_cookie", "answer_opt"), ("small_udp", "big"),
         ("padding", "big"), ("a", "nxdomain"), ("a", "servfail"), ("mixedcase", "answer"), ("a", "cname"),
         ("a", "delegation"), ("do_cookie", "rrsig"), ("a", "loop_ptr"), ("a", "truncated_rr"), ("a", "mx_srv")]
for qn, rn in pairs:
    q, r = queries[qn], replies[rn]
    # Replies carry the question of their query where it makes sense.
    for mode in (0, 3):
        write("finisher", f"{qn}_{rn}_{mode}", bytes([mode]) + struct.pack("!H", len(q)) + q + r)
        write("cache", f"{qn}_{rn}_{mode}", bytes([mode, 1]) + struct.pack("!H", len(q)) + q + r)
    write("forward_reply", f"{qn}_{rn}", struct.pack("!H", len(q)) + q + r)
# Matching question for the answers (cache stores only what answers).
q = query("example.org", 1, edns=opt(512))
for rn in ("answer", "answer_opt", "big", "cname", "servfail", "rrsig"):
    r = replies[rn]
    for mode in (0, 4, 8, 15):
        write("cache", f"match_{rn}_{mode}", bytes([mode, 3]) + struct.pack("!H", len(q)) + q + r)

# Corefiles: the repository's examples and the node-cache base.
def read(p):
    with open(os.path.join(root, p), "rb") as f:
        return f.read()

corefiles = {
    "example": read("examples/Corefile"),
    "nodecache_base": read("nodecache/testdata/Corefile.base"),
    "worked": read("nodecache/testdata/Corefile.worked-example"),
    "many": b""".:0 {
    whoami
    log . "{remote} {type} {name}" {
        class denial error
    }
    errors
    cache 300 example.org {
        success 1000 30 5
        denial 100 10
        prefetch 2 1m 20%
        serve_stale 1h verify
        disable denial example.net
        keepttl
    }
    rewrite name regex (.*)\\.example\\.com {1}.example.org answer auto
    template IN A example.org {
        answer "{{ .Name }} 60 IN A 192.0.2.1"
        fallthrough
    }
    hosts {
        192.0.2.7 h.example.org
        fallthrough
    }
    dns64 64:ff9b::/96
    loadbalance round_robin
    bufsize 1232
    any
    timeouts {
        read 2s
        idle 5s
    }
    forward . 127.0.0.1:5353 [::1]:5353 {
        max_fails 3
        expire 10s
        policy sequential
        health_check 1s
        max_concurrent 100
    }
}
example.net:0 tls://example.com:0 {
    tls
    whoami
}
""",
    "import": b"(snip) {\n  whoami\n}\n.:0 {\n  import snip\n  debug\n  metadata\n  prometheus localhost:0\n}\n",
    "env": b".:{$PORT} {\n  whoami\n}\n",
    "quotes": b"\"example.org\":0 {\n  log \"{\\\"a\\\"}\"\n  # comment\n}\n",
}
for k, v in corefiles.items():
    write("corefile", k, v)

def cm(*records):
    out = b""
    for key, content in records:
        out += bytes([key]) + struct.pack("!H", len(content)) + content
    return out

write("configmap", "stub", cm((0, b'{"acme.local": ["1.2.3.4"], "b.local": ["1.2.3.5:5353", "[::1]:53"]}')))
write("configmap", "upstream", cm((1, b'["8.8.8.8", "8.8.4.4:53"]')))
write("configmap", "both", cm((0, b'{"x.y": ["10.0.0.1"]}'), (1, b'["1.1.1.1"]'), (2, b'{"fed": "example.com"}')))
write("configmap", "testdata", cm((0, read("nodecache/testdata/kube-dns-configmap/stubDomains")),
                                  (1, read("nodecache/testdata/kube-dns-configmap/upstreamNameservers"))))
write("configmap", "bad_json", cm((0, b'{"a": [1, 2'), (3, b"\xff\xfe")))

flags = {
    "stock": ["-localip", "169.254.20.10,10.96.0.10", "-conf", "/etc/Corefile", "-upstreamsvc", "kube-dns-upstream"],
    "full": ["-localip=169.254.20.10", "-setupinterface=false", "-setupiptables=false", "-syncinterval", "30ns",
             "-health-port", "8081", "-dns.port", "5353", "-iptablesbackend", "nft", "-nftables=true",
             "-metrics-listen-address", "127.0.0.1:9353", "-skipteardown=true", "-reloadwithsignal=true"],
    "v6": ["-localip", "fd00::10,fd00::11", "-interfacename", "nld0", "-basecorefile", "/x/Corefile.base",
           "-kubednscm", "/etc/kube-dns", "-quiet", "-validate"],
    "bad": ["-localip", "1.2.3", "--", "extra"],
    "help": ["-h"],
}
for k, argv in flags.items():
    write("nodecache_flags", k, b"\0".join(a.encode() for a in argv))
