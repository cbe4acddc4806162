// Micro-benchmarks of Atrium's per-request fixed costs (Google Benchmark).
//
//   build/bench/atrium_micro [--benchmark_min_time=0.2] [--benchmark_format=csv]
//
// BM_EmptyTransaction     atrium::begin(db, 0) + scope.close(true) on a SQLite
//                         temp-file database (WAL, synchronous=FULL, like atriumd)
// BM_EmptyTransactionRO   the same, read-only
// BM_SetContext           one set_context({"language": "fr"}) scope inside a transaction
// BM_ThreeDataManagers    begin + join three minimal data managers + commit
//                         (two-phase commit over them, main connection last)
// BM_JsonRpcDecodeEncode  json::parse of a W3 request + dump(-1, ' ', true) of it
// BM_JsonRpcW2RoundTrip   json::parse of a W2 request + dump of a typical W2 reply
//
// The database lives in a fresh directory under $TMPDIR (default /tmp), removed at exit.

#include "database/database.hpp"
#include "transaction/coordinator.hpp"
#include "transaction/data_manager.hpp"
#include "transaction/scopes.hpp"
#include "transaction/transaction.hpp"

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

namespace {

namespace fs = std::filesystem;

// One SQLite database for the whole process, in a temp directory removed at exit.
struct temp_database {
    fs::path dir;
    std::unique_ptr<atrium::db::backend> backend;
    std::shared_ptr<atrium::db::database> db;

    temp_database() {
        const char* tmp = std::getenv("TMPDIR");
        std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/atrium-micro-XXXXXX";
        if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed: " + templ);
        dir = templ;
        backend = atrium::db::open_backend("sqlite://" + dir.string());
        if (!backend->exists("micro")) backend->create("micro");
        db = backend->open("micro");
    }
    ~temp_database() {
        db.reset();
        backend.reset();
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
};

temp_database& database() {
    static temp_database instance;
    return instance;
}

// A minimal data manager: counts its calls, does nothing else (no allocation,
// no I/O), so the benchmark measures the coordinator's bookkeeping.
class counting_data_manager final : public atrium::tpc::data_manager {
public:
    explicit counting_data_manager(std::string key) : key_(std::move(key)) {}
    std::string sort_key() const override { return key_; }
    void tpc_begin(atrium::tpc::coordinator&) override { ++calls; }
    void commit(atrium::tpc::coordinator&) override { ++calls; }
    void tpc_vote(atrium::tpc::coordinator&) override { ++calls; }
    void tpc_finish(atrium::tpc::coordinator&) override { ++calls; }
    void tpc_abort(atrium::tpc::coordinator&) override { ++calls; }
    void abort(atrium::tpc::coordinator&) override { ++calls; }
    long calls = 0;

private:
    std::string key_;
};

void BM_EmptyTransaction(benchmark::State& state) {
    auto db = database().db;
    for (auto _ : state) {
        auto scope = atrium::begin(db, 0);
        scope.close(true);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EmptyTransaction);

void BM_EmptyTransactionRO(benchmark::State& state) {
    auto db = database().db;
    for (auto _ : state) {
        auto scope = atrium::begin(db, 0, {.readonly = true});
        scope.close(true);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EmptyTransactionRO);

void BM_SetContext(benchmark::State& state) {
    auto scope = atrium::begin(database().db, 0, {.context = {{"language", "en"}, {"company", 1}}});
    const nlohmann::json values = {{"language", "fr"}};
    for (auto _ : state) {
        auto guard = atrium::set_context(*scope, values);
        benchmark::DoNotOptimize(&scope->context());
    }
    scope.close(true);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SetContext);

void BM_ThreeDataManagers(benchmark::State& state) {
    auto db = database().db;
    auto a = std::make_shared<counting_data_manager>("a");
    auto b = std::make_shared<counting_data_manager>("b");
    auto c = std::make_shared<counting_data_manager>("c");
    for (auto _ : state) {
        auto scope = atrium::begin(db, 0);
        scope->join(a);
        scope->join(b);
        scope->join(c);
        scope.close(true);
    }
    if (a->calls == 0) state.SkipWithError("data managers were not driven");
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ThreeDataManagers);

// W3 of the wrk suite, as the client sends it.
const std::string w3_request =
    R"({"id":42,"method":"model.res.user.warning.create",)"
    R"("params":[[{"user":1,"name":"bench-1764626400-1-42","always":false}],{}]})";
const std::string w2_request = R"({"id":7,"method":"model.res.user.read","params":[[1],["name","login"],{}]})";

void BM_JsonRpcDecodeEncode(benchmark::State& state) {
    std::size_t bytes = 0;
    for (auto _ : state) {
        auto request = nlohmann::json::parse(w3_request);
        std::string out = request.dump(-1, ' ', true);
        bytes += out.size();
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_JsonRpcDecodeEncode);

void BM_JsonRpcW2RoundTrip(benchmark::State& state) {
    for (auto _ : state) {
        auto request = nlohmann::json::parse(w2_request);
        nlohmann::json reply = {
            {"id", request["id"]},
            {"result", nlohmann::json::array({{{"id", 1}, {"name", "Administrator"}, {"login", "admin"}}})}};
        std::string out = reply.dump(-1, ' ', true);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_JsonRpcW2RoundTrip);

}  // namespace

BENCHMARK_MAIN();
