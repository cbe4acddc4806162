#include "fiber/socket_watch.hpp"

#include "fiber/runtime.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/spawn.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <unordered_set>

namespace atrium::fiber {

namespace {

using descriptor_type = boost::asio::posix::basic_stream_descriptor<boost::asio::io_context::executor_type>;

class asio_socket_watch;

/// The watches open on one io_context. Shared with the watches, which may
/// outlive the io_context and its service.
struct watch_registry {
    std::mutex mutex;
    bool open = true;
    std::unordered_set<asio_socket_watch*> watches;
};

class asio_socket_watch final : public fiber::socket_watch {
public:
    asio_socket_watch(boost::asio::io_context& io, std::shared_ptr<watch_registry> registry, int fd)
        : io_(io.get_executor()), registry_(std::move(registry)) {
        const int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (own < 0) {
            throw boost::system::system_error(errno, boost::system::system_category(),
                                              "duplicating a database socket");
        }
        // The dup is closed here unless the descriptor took it over (no
        // catch-all: this may run on a fiber, whose unwinding must pass).
        struct close_unless_assigned {
            int fd;
            bool assigned = false;
            ~close_unless_assigned() {
                if (!assigned) ::close(fd);
            }
        } dup_guard{own};
        descriptor_.emplace(io_);
        descriptor_->assign(own);  // registers with epoll, edge-triggered
        dup_guard.assigned = true;
        std::lock_guard lock(registry_->mutex);
        if (!registry_->open) {
            close_locked();
            throw std::logic_error("socket watch: the io_context has shut down");
        }
        registry_->watches.insert(this);
        usable_.store(true, std::memory_order_release);
    }

    ~asio_socket_watch() override {
        std::lock_guard lock(registry_->mutex);
        if (!descriptor_) return;  // closed by the io_context's shutdown
        registry_->watches.erase(this);
        close_locked();
    }

    asio_socket_watch(const asio_socket_watch&) = delete;
    asio_socket_watch& operator=(const asio_socket_watch&) = delete;

    bool usable_here() const noexcept override {
        return usable_.load(std::memory_order_acquire) && io_.running_in_this_thread();
    }

    void wait_readable() override {
        const fiber_yield* yield = current_yield();
        if (!yield || !usable_here()) {
            throw std::logic_error("socket watch: waited on from outside a fiber of its io_context");
        }
        // Epoll reports this socket edge-triggered, but Asio re-arms the
        // registration (EPOLL_CTL_MOD) for every wait, which reports data
        // already there at once (the reader may have left some: libpq reads
        // at most its buffer's room per call).
        boost::system::error_code error;
        descriptor_->async_wait(boost::asio::posix::descriptor_base::wait_read, (*yield)[error]);
        if (error) throw boost::system::system_error(error, "waiting for a database socket");
    }

    /// Removes the registration and closes the dup. Under the registry's lock.
    void close_locked() noexcept {
        usable_.store(false, std::memory_order_release);
        boost::system::error_code ignored;
        descriptor_->close(ignored);  // an assigned fd: EPOLL_CTL_DEL, then close
        descriptor_.reset();
    }

private:
    boost::asio::io_context::executor_type io_;
    std::shared_ptr<watch_registry> registry_;
    std::optional<descriptor_type> descriptor_;
    std::atomic<bool> usable_{false};
};

/// Closes the io_context's open watches when it shuts down, while its reactor
/// still exists.
class watch_service final : public boost::asio::execution_context::service {
public:
    static inline boost::asio::execution_context::id id;

    explicit watch_service(boost::asio::io_context& io)
        : boost::asio::execution_context::service(io), registry_(std::make_shared<watch_registry>()) {
        // Services shut down newest first: making the descriptor service (and
        // the reactor) exist now, before this service is added, lets this one
        // close its descriptors while they still work.
        descriptor_type probe(io.get_executor());
    }

    const std::shared_ptr<watch_registry>& registry() const noexcept { return registry_; }

private:
    void shutdown() override {
        std::lock_guard lock(registry_->mutex);
        registry_->open = false;
        for (auto* watch : registry_->watches) watch->close_locked();
        registry_->watches.clear();
    }

    std::shared_ptr<watch_registry> registry_;
};

}  // namespace

std::unique_ptr<socket_watch> make_socket_watch(boost::asio::io_context& io, int fd) {
    return std::make_unique<asio_socket_watch>(io, boost::asio::use_service<watch_service>(io).registry(), fd);
}

std::size_t open_socket_watches(boost::asio::io_context& io) {
    const auto& registry = boost::asio::use_service<watch_service>(io).registry();
    std::lock_guard lock(registry->mutex);
    return registry->watches.size();
}

}  // namespace atrium::fiber
