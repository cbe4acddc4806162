#include "server/periodic_recovery.hpp"

#include "fiber/runtime.hpp"
#include "server/recovery_command.hpp"
#include "transaction/fiber_context.hpp"
#include "transaction/logging.hpp"

#include <boost/asio/io_context.hpp>

namespace atrium::server {

void start_periodic_recovery(boost::asio::io_context& io, std::shared_ptr<db::backend> backend,
                             std::shared_ptr<db::database> main, const config& cfg,
                             periodic_recovery_options options, std::shared_ptr<std::atomic<bool>> stop) {
    auto stores = std::make_shared<std::vector<std::unique_ptr<tpc::participant_store>>>(
        configured_participant_stores(cfg, options.min_age));
    auto databases = std::make_shared<served_databases>(*backend, std::move(main));
    fiber::spawn_fiber(io, [backend = std::move(backend), databases, stores, options = std::move(options), stop] {
        const auto step = std::min<std::chrono::nanoseconds>(std::chrono::seconds(1), options.interval);
        while (!stop->load()) {
            auto waited = std::chrono::nanoseconds(0);
            while (waited < options.interval && !stop->load()) {
                fiber::current().sleep_for(step);
                waited += step;
            }
            if (stop->load()) break;
            try {
                auto report = run_recovery(*databases, *stores);
                auto summary = recovery_summary(report, stores->size());
                if (report.committed || report.rolled_back || report.failed) log_info("periodic " + summary);
                if (options.on_pass) options.on_pass(summary);
            } catch (const std::exception& error) {
                log_error(std::string("periodic recovery failed: ") + error.what());
            }
        }
    });
}

}  // namespace atrium::server
