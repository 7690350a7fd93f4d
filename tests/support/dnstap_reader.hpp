#pragma once
// A small, independent reader for what dnstap writes: Frame Streams files
// (as fstrm_capture saves them) and the dnstap protobuf, decoded field by
// field from the wire format. Tests use it instead of the encoder under test.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace dnscore::testing::dnstap_read {

// Every field of one protobuf message: number -> values (varint / fixed32
// as integers, length-delimited as bytes).
struct PbFields {
    std::map<uint32_t, std::vector<uint64_t>> ints;
    std::map<uint32_t, std::vector<std::string>> bytes;
    std::vector<uint32_t> order;  // field numbers as they appear
    bool has(uint32_t f) const { return ints.count(f) || bytes.count(f); }
    uint64_t i(uint32_t f) const { return ints.at(f).at(0); }
    const std::string& b(uint32_t f) const { return bytes.at(f).at(0); }
};

inline uint64_t varint(const std::string& s, size_t& pos) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (pos >= s.size()) throw std::runtime_error("truncated varint");
        const uint8_t b = uint8_t(s[pos++]);
        v |= uint64_t(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    throw std::runtime_error("varint too long");
}

inline PbFields parse_pb(const std::string& s) {
    PbFields out;
    size_t pos = 0;
    while (pos < s.size()) {
        const uint64_t key = varint(s, pos);
        const auto field = uint32_t(key >> 3);
        out.order.push_back(field);
        switch (key & 7) {
            case 0:
                out.ints[field].push_back(varint(s, pos));
                break;
            case 5: {
                if (pos + 4 > s.size()) throw std::runtime_error("truncated fixed32");
                uint64_t v = 0;
                for (int k = 0; k < 4; ++k) v |= uint64_t(uint8_t(s[pos + size_t(k)])) << (8 * k);
                pos += 4;
                out.ints[field].push_back(v);
                break;
            }
            case 2: {
                const uint64_t len = varint(s, pos);
                if (pos + len > s.size()) throw std::runtime_error("truncated bytes");
                out.bytes[field].push_back(s.substr(pos, size_t(len)));
                pos += size_t(len);
                break;
            }
            default:
                throw std::runtime_error("unexpected wire type");
        }
    }
    return out;
}

// One dnstap.Dnstap with its Message.
struct Tap {
    std::string identity, version, extra;
    bool has_extra = false;
    uint64_t dnstap_type = 0;
    PbFields msg;
    uint64_t type() const { return msg.i(1); }
};

inline Tap decode(const std::string& payload) {
    const PbFields d = parse_pb(payload);
    Tap t;
    if (d.bytes.count(1)) t.identity = d.b(1);
    if (d.bytes.count(2)) t.version = d.b(2);
    if (d.bytes.count(3)) {
        t.extra = d.b(3);
        t.has_extra = true;
    }
    t.dnstap_type = d.i(15);
    t.msg = parse_pb(d.b(14));
    return t;
}

inline uint32_t be32(const std::string& s, size_t pos) {
    if (pos + 4 > s.size()) throw std::runtime_error("truncated frame");
    return uint32_t(uint8_t(s[pos])) << 24 | uint32_t(uint8_t(s[pos + 1])) << 16 | uint32_t(uint8_t(s[pos + 2])) << 8 |
           uint32_t(uint8_t(s[pos + 3]));
}

// A Frame Streams file: the content type of its START frame and its data
// frames. Stops quietly at a truncated tail (a file still being written).
struct FrameFile {
    std::string content_type;
    std::vector<std::string> frames;
};

inline FrameFile read_frames(const std::string& data) {
    FrameFile f;
    size_t pos = 0;
    while (pos + 4 <= data.size()) {
        const uint32_t len = be32(data, pos);
        if (len == 0) {  // control frame: length, type, fields
            if (pos + 8 > data.size()) break;
            const uint32_t clen = be32(data, pos + 4);
            if (pos + 8 + clen > data.size()) break;
            const uint32_t ctype = be32(data, pos + 8);
            size_t fp = pos + 12;
            while (fp + 8 <= pos + 8 + clen) {
                const uint32_t ftype = be32(data, fp), flen = be32(data, fp + 4);
                if (ctype == 2 && ftype == 1) f.content_type = data.substr(fp + 8, flen);  // START, content type
                fp += 8 + flen;
            }
            pos += 8 + clen;
            continue;
        }
        if (pos + 4 + len > data.size()) break;
        f.frames.push_back(data.substr(pos + 4, len));
        pos += 4 + len;
    }
    return f;
}

// True once something accepts connections on the unix socket `path` (the
// socket file exists from bind(), before listen()).
inline bool unix_accepts(const std::string& path) {
    const int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
    const bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    ::close(s);
    return ok;
}

inline FrameFile read_frame_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return read_frames(data);
}

}  // namespace dnscore::testing::dnstap_read
