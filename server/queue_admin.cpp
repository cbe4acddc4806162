#include "server/queue_admin.hpp"

#include "database/database.hpp"
#include "modules/ir/queue.hpp"
#include "modules/registry.hpp"
#include "transaction/retry.hpp"

#include <charconv>
#include <cstdio>
#include <ostream>

namespace atrium::server {

namespace {

constexpr int exit_ok = 0, exit_failure = 1, exit_usage = 2;

bool parse_id(const std::string& text, std::int64_t& id) {
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    return ec == std::errc() && ptr == text.data() + text.size() && id > 0;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

int run_queue_command(const config& cfg, const std::string& database_name, const std::vector<std::string>& words,
                      std::ostream& out, std::ostream& err) {
    const std::string action = words.empty() ? "" : words[0];
    std::int64_t id = 0;
    const bool list = action == "list" && words.size() <= 2;
    const bool by_id = (action == "retry" || action == "drop") && words.size() == 2 && parse_id(words[1], id);
    if (!list && !by_id) {
        err << "atrium-admin: usage: queue list [pending|running|done|failed] | queue retry ID | queue drop ID\n";
        return exit_usage;
    }
    std::shared_ptr<db::database> database;
    std::unique_ptr<db::backend> backend;
    try {
        backend = db::open_backend(backend_uri(cfg));
        if (!backend->exists(database_name)) {
            err << "atrium-admin: database " << database_name << " does not exist\n";
            return exit_failure;
        }
        database = backend->open(database_name);
    } catch (const std::exception& e) {
        err << "atrium-admin: cannot open database " << database_name << ": " << e.what() << '\n';
        return exit_failure;
    }
    retry_options options;
    options.start.readonly = list;
    bool found = true;
    call_with_retry(database, root_user, options, [&](transaction&) {
        if (list) {
            for (const auto& row : modules::ir::list_tasks(words.size() == 2 ? words[1] : "")) {
                char scheduled[32];
                std::snprintf(scheduled, sizeof scheduled, "%.3f", row.scheduled_at);
                out << row.id << '\t' << row.state << '\t' << row.tries << '\t' << row.model << '.' << row.method
                    << '\t' << scheduled << '\t' << first_line(row.last_error) << '\n';
            }
        } else if (action == "retry") {
            found = modules::ir::retry_task(id);
        } else {
            found = modules::ir::drop_task(id);
        }
        return nlohmann::json();
    });
    if (!found) {
        err << "atrium-admin: no task " << id << (action == "retry" ? " that is failed or pending\n" : " that is not running\n");
        return exit_failure;
    }
    return exit_ok;
}

}  // namespace atrium::server
