#include "tests/support/queue_test_module.hpp"

#include "fiber/context.hpp"
#include "modules/errors.hpp"
#include "modules/ir/queue.hpp"
#include "modules/registry.hpp"
#include "transaction/transaction.hpp"

#include <unistd.h>

namespace atrium::test {

using namespace atrium::modules;
using nlohmann::json;

std::string register_queue_test_module() {
    module_def m;
    m.name = "test_queue_jobs";
    m.depends = {"res"};
    model_def job("test.queue.job", "Queued Job");
    job.add(fields::char_field("key", "Key").set_required()).add(fields::integer("pid", "Process"));
    rpc_definition writes;
    writes.readonly = false;
    job.add(custom_method{"enqueue_jobs", writes,
                          [](const model&, const rpc_call& call) {
                              const auto count = call.args.at(0).get<int>();
                              const auto prefix = call.args.at(1).get<std::string>();
                              const auto seconds = call.args.at(2).get<double>();
                              for (int i = 0; i < count; ++i)
                                  ir::enqueue({.model = "test.queue.job",
                                               .method = "run",
                                               .args = json::array({prefix + "-" + std::to_string(i), seconds}),
                                               // The slow task's lease runs out soon after a kill -9;
                                               // the quick ones keep theirs even on a loaded machine.
                                               .expected_duration = std::chrono::seconds(seconds > 0 ? 1 : 60)});
                              if (call.args.at(3).get<bool>()) throw user_error("this call fails after queuing");
                              return json();
                          },
                          "enqueue_jobs(count, prefix, seconds, fail)"});
    job.add(custom_method{"run", writes,
                          [](const model& self, const rpc_call& call) {
                              const auto seconds = call.args.at(1).get<double>();
                              if (seconds < 0) throw user_error("poisoned job " + call.args.at(0).get<std::string>());
                              if (seconds > 0)
                                  fiber::current().sleep_for(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                      std::chrono::duration<double>(seconds)));
                              self.create(json::array(
                                  {{{"key", call.args.at(0).get<std::string>()}, {"pid", static_cast<int>(::getpid())}}}));
                              return json();
                          },
                          "run(key, seconds)"});
    job.add(custom_method{"queue_rows", rpc_definition{},
                          [](const model&, const rpc_call&) {
                              json rows = json::array();
                              for (const auto& r : current()
                                                       .connection()
                                                       .execute("SELECT id, state, tries, args FROM ir_queue ORDER BY id")
                                                       .rows)
                                  rows.push_back({{"id", std::get<std::int64_t>(r[0])},
                                                  {"state", std::get<std::string>(r[1])},
                                                  {"tries", std::get<std::int64_t>(r[2])},
                                                  {"args", std::get<std::string>(r[3])}});
                              return rows;
                          },
                          "queue_rows()"});
    m.models.push_back(std::move(job));
    builtin_modules().add(std::move(m));
    return "test_queue_jobs";
}

}  // namespace atrium::test
