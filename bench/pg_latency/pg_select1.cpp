// Single-connection `SELECT 1` latency: Atrium's PostgreSQL connection
// (pg_connection::execute, a libpqxx pipeline plus a wait on the socket)
// against raw libpqxx (nontransaction::exec), in interleaved rounds.
//
//   pg_select1 [DSN] [rounds] [calls-per-round]
//
// DSN defaults to env ATRIUM_BENCH_PG_DSN, then ATRIUM_TEST_PG_DSN (for
// example postgresql://postgres@127.0.0.1:5499/); the `postgres` database is
// used. Three variants, each on its own connection:
//   raw      pqxx::nontransaction::exec("SELECT 1")          (blocking libpq)
//   atrium   pg_connection::execute("SELECT 1"), default hooks (poll())
//   fiber    the same inside a fiber (atrium::fiber::spawn_fiber, fiber_wait_hooks():
//            the wait is an Asio async_wait on the socket, as in the server)
// Each round runs every variant `calls` times, in a rotating order. Reported:
// median and p99 over all calls, the best round's median, and ratios to raw.

#include "database/database.hpp"
#include "database/postgresql/pg_connection.hpp"
#include "fiber/runtime.hpp"
#include "transaction/fiber_context.hpp"

#include <boost/asio/io_context.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct variant {
    const char* name;
    std::function<void(int calls, std::vector<double>& samples)> run;
    std::vector<double> all;
    std::vector<double> round_medians;
};

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto index = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(index, v.size() - 1)];
}

// libpq conninfo for the `postgres` database from a postgresql:// URI
// (libpq accepts URIs itself; only the path is set here).
std::string conninfo_of(std::string uri) {
    if (const auto q = uri.find('?'); q != std::string::npos) uri.resize(q);
    while (!uri.empty() && uri.back() == '/') uri.pop_back();
    return uri + "/postgres";
}

}  // namespace

int main(int argc, char** argv) {
    std::string dsn;
    if (argc > 1) dsn = argv[1];
    else if (const char* e = std::getenv("ATRIUM_BENCH_PG_DSN")) dsn = e;
    else if (const char* t = std::getenv("ATRIUM_TEST_PG_DSN")) dsn = t;
    if (dsn.empty()) {
        std::fprintf(stderr, "usage: pg_select1 postgresql://user@host:port/ [rounds] [calls]\n");
        return 2;
    }
    const int rounds = argc > 2 ? std::atoi(argv[2]) : 15;
    const int calls = argc > 3 ? std::atoi(argv[3]) : 500;

    // raw libpqxx
    pqxx::connection raw_conn(conninfo_of(dsn));
    pqxx::nontransaction raw_tx(raw_conn);

    // Atrium, thread waits (poll)
    auto plain_backend = atrium::db::open_backend(dsn);
    auto plain_db = plain_backend->open("postgres");
    auto plain_conn = plain_db->acquire();

    // Atrium, fiber waits (Asio)
    auto fiber_backend = atrium::db::open_backend(dsn, atrium::fiber_wait_hooks());
    auto fiber_db = fiber_backend->open("postgres");
    auto fiber_conn = fiber_db->acquire();

    auto timed = [](int n, std::vector<double>& samples, const std::function<void()>& call) {
        for (int i = 0; i < n; ++i) {
            const auto start = clock_type::now();
            call();
            samples.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - start).count());
        }
    };

    std::vector<variant> variants;
    variants.push_back({"raw libpqxx exec", [&](int n, std::vector<double>& s) {
                            timed(n, s, [&] { raw_tx.exec("SELECT 1"); });
                        }, {}, {}});
    variants.push_back({"atrium execute (poll)", [&](int n, std::vector<double>& s) {
                            timed(n, s, [&] { plain_conn->execute("SELECT 1"); });
                        }, {}, {}});
    variants.push_back({"atrium execute (fiber)", [&](int n, std::vector<double>& s) {
                            boost::asio::io_context io(1);
                            atrium::fiber::spawn_fiber(io, [&] {
                                timed(n, s, [&] { fiber_conn->execute("SELECT 1"); });
                            });
                            io.run();
                        }, {}, {}});

    // Warm-up (connections, caches, branch predictors).
    for (auto& v : variants) {
        std::vector<double> discard;
        v.run(200, discard);
    }
    for (int r = 0; r < rounds; ++r) {
        for (std::size_t k = 0; k < variants.size(); ++k) {
            auto& v = variants[(k + static_cast<std::size_t>(r)) % variants.size()];
            std::vector<double> samples;
            samples.reserve(static_cast<std::size_t>(calls));
            v.run(calls, samples);
            v.round_medians.push_back(percentile(samples, 0.5));
            v.all.insert(v.all.end(), samples.begin(), samples.end());
        }
    }

    const double raw_median = percentile(variants[0].all, 0.5);
    const double raw_p99 = percentile(variants[0].all, 0.99);
    std::printf("SELECT 1 on one connection, %d interleaved rounds x %d calls per variant\n", rounds, calls);
    std::printf("%-24s %10s %10s %16s %14s %11s\n", "variant", "median us", "p99 us", "best-round med", "median/raw", "p99/raw");
    for (const auto& v : variants) {
        const double median = percentile(v.all, 0.5);
        const double p99 = percentile(v.all, 0.99);
        const double best = *std::min_element(v.round_medians.begin(), v.round_medians.end());
        std::printf("%-24s %10.1f %10.1f %16.1f %14.2f %11.2f\n", v.name, median, p99, best, median / raw_median,
                    p99 / raw_p99);
    }
    plain_conn.return_to_pool();
    fiber_conn.return_to_pool();
    return 0;
}
