#pragma once
// A minimal HTTP/1.1 client for tests of the operational endpoints (health,
// ready, metrics) and a reader of Prometheus text scrapes.
#include <string>

namespace dnscore::testing {

struct HttpReply {
    int status = 0;  // 0: no connection / no reply
    std::string headers, body;
};

// One blocking request (`method` GET or HEAD) with Connection: close to
// "HOST:PORT" (IPv4), bounded by timeout_ms.
HttpReply http_get(const std::string& hostport, const std::string& path, int timeout_ms = 3000,
                   const std::string& method = "GET");

// The value of the exact series `series` ("name{labels}" or "name") in a
// scrape; 0 when absent.
double metric_value(const std::string& scrape, const std::string& series);
// The sum of every series of `family` in a scrape (labelled or bare).
double metric_family_sum(const std::string& scrape, const std::string& family);
// GET http://`metrics`/metrics and the value of `series` in it.
double scrape_metric(const std::string& metrics, const std::string& series);

}  // namespace dnscore::testing
