#pragma once
// DNS over gRPC (grpc://): CoreDNS's ServergRPC (core/dnsserver/server_grpc.go),
// service coredns.dns.DnsService/Query. gRPC's C++ server runs its own
// threads (its completion queues cannot be driven from an Asio loop without
// a lock), so one gRPC server per listener, owned by worker 0, receives the
// calls and hands each query to a worker's loop with post() (round robin);
// the worker runs it through Worker::handle and finishes the call.
//
// gRPC and protobuf (about 13 MB of shared libraries) are linked into the
// module dnscore-grpc.so only (core/transport_module.hpp), which the
// configuration loader dlopen()s when a grpc:// listener is configured.
#include <memory>
#include <string>

namespace dnscore {

class Runtime;
struct Listener;

class GrpcListener {
public:
    virtual ~GrpcListener() = default;
    virtual const std::string& label() const = 0;
    virtual int port() const = 0;
    // Stops the server; calls still in flight are cancelled (the workers'
    // late replies are dropped). Safe on a worker thread: it never waits for
    // a worker.
    virtual void close() = 0;
};

// Binds and starts serving `l` on `port` ("0" = a free port); throws
// std::runtime_error with the bind error. nullptr until the module is loaded.
using GrpcListenerFactory = std::unique_ptr<GrpcListener> (*)(Runtime& rt, const Listener& l, const std::string& port);
extern GrpcListenerFactory grpc_listener_factory;

}  // namespace dnscore
