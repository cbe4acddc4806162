#include "server/http_server.hpp"

#include "fiber/runtime.hpp"
#include "server/gzip.hpp"
#include "server/http_rules.hpp"
#include "server/jsonrpc_codec.hpp"
#include "server/worker_pool.hpp"
#include "transaction/logging.hpp"
#include "transaction/remote_address.hpp"
#include "util/text.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/container/small_vector.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <future>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <vector>

namespace atrium::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t gzip_threshold = 1400;
constexpr std::size_t connection_stack_size = fiber::default_fiber_stack_size;  // guarded, see fiber_runtime.hpp
constexpr unsigned char tls_handshake_record = 0x16;

/// A connection idle this long gives its buffer and the unused part of its
/// fiber stack back. Shorter idle periods (a busy keep-alive client) cost nothing.
constexpr auto idle_trim_delay = std::chrono::seconds(1);

/// Request bodies inflating to more than this continue on the worker pool;
/// bodies and replies from this size on are parsed and compressed there
/// (milliseconds of CPU each): the io thread's other connections go on.
constexpr std::size_t inflate_step = 256 * 1024;
constexpr std::size_t offload_size = 256 * 1024;

struct idle_list;

/// What shutdown() and the idle sweeper need to reach a connection; touched
/// only on its own thread.
struct connection_control {
    asio::io_context* io = nullptr;
    idle_list* idles = nullptr;           ///< the sweeper of its thread
    beast::tcp_stream* stream = nullptr;  ///< nullptr once the connection ended
    bool idle = false;                    ///< waiting for the next request
    bool trim_requested = false;          ///< the sweeper cancelled the idle read
    // Place in its thread's idle_list, oldest idle first.
    connection_control* prev = nullptr;
    connection_control* next = nullptr;
    bool linked = false;
    std::chrono::steady_clock::time_point idle_since;
    // The per-network cap (set before the fiber starts).
    std::string address;  ///< the peer's IP address
    std::string network;  ///< its network (session.ip_network_4/6)
    // Which connection to close when a cap is reached: written on its own
    // thread, read by the acceptor's under the registry mutex.
    std::atomic<bool> waiting{false};            ///< idle, or its request's headers incomplete
    std::atomic<std::int64_t> waiting_since{0};  ///< steady_clock ticks
    bool eviction_pending = false;               ///< chosen; under the registry mutex
    bool evicted = false;                        ///< closed by a cap (own thread): no answer, no linger

    void wait_begins() noexcept {
        waiting_since.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
        waiting.store(true, std::memory_order_relaxed);
    }
    void wait_ends() noexcept { waiting.store(false, std::memory_order_relaxed); }
};

/// The client's network as session.ip_network_4/6 groups it (an IPv4-mapped
/// IPv6 address counts as its IPv4 one); the address itself if unparsable.
std::string network_of(asio::ip::address address, int ipv4_prefix, int ipv6_prefix) {
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
        address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
    }
    const std::string text = address.to_string();
    const auto remote = make_remote_address(text, ipv4_prefix, ipv6_prefix);
    return remote ? remote->network : text;
}

/// Connections of one io thread in their first idle phase, oldest first (all
/// wait the same delay, so appending keeps the order). One timer per thread
/// cancels the reads of those idle for idle_trim_delay: the hot path only links
/// and unlinks, no timer or syscall per request.
struct idle_list {
    explicit idle_list(asio::io_context& io) : timer(std::in_place, io) {}

    void link(connection_control& c) {
        c.idle_since = std::chrono::steady_clock::now();
        c.prev = tail;
        c.next = nullptr;
        (tail ? tail->next : head) = &c;
        tail = &c;
        c.linked = true;
        if (!armed) arm();
    }
    void unlink(connection_control& c) noexcept {
        if (!c.linked) return;
        (c.prev ? c.prev->next : head) = c.next;
        (c.next ? c.next->prev : tail) = c.prev;
        c.prev = c.next = nullptr;
        c.linked = false;
    }

    void arm() {
        if (!head || !timer) return;
        armed = true;
        timer->expires_at(head->idle_since + idle_trim_delay);
        timer->async_wait([this](const boost::system::error_code& ec) {
            armed = false;
            if (!ec) sweep();
        });
    }
    void sweep() {
        const auto now = std::chrono::steady_clock::now();
        while (head && head->idle_since + idle_trim_delay <= now) {
            connection_control& c = *head;
            unlink(c);
            if (c.stream) {
                c.trim_requested = true;
                c.stream->cancel();
            }
        }
        arm();
    }

    connection_control* head = nullptr;
    connection_control* tail = nullptr;
    bool armed = false;
    std::optional<asio::steady_timer> timer;  ///< reset before its io_context dies
};

/// Page-aligned 4 KiB blocks for read buffers, per thread, whose pages go back
/// to the kernel when a block is freed: a buffer malloc freed would stay
/// resident (a hole between live allocations) for every idle connection.
class page_pool {
public:
    static constexpr std::size_t block_size = 4096;
    static constexpr std::size_t blocks_per_slab = 64;

    static bool usable() {
        static const bool page_sized = ::sysconf(_SC_PAGESIZE) == static_cast<long>(block_size);
        return page_sized;
    }
    static page_pool& local() {
        thread_local page_pool pool;
        return pool;
    }

    void* take() {
        if (free_.empty()) grow();
        void* block = free_.back();
        free_.pop_back();
        return block;
    }
    void give(void* block) noexcept {
        ::madvise(block, block_size, MADV_DONTNEED);
        free_.push_back(block);  // never reallocates: reserved for every block
    }

private:
    void grow() {
        void* slab = ::mmap(nullptr, block_size * blocks_per_slab, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                            -1, 0);
        if (slab == MAP_FAILED) throw std::bad_alloc();
        blocks_ += blocks_per_slab;
        free_.reserve(blocks_);
        for (std::size_t i = blocks_per_slab; i-- > 0;) free_.push_back(static_cast<char*>(slab) + i * block_size);
    }

    std::vector<void*> free_;
    std::size_t blocks_ = 0;  // slabs live as long as the process: a block may be freed on another thread
};

/// Read buffers of the first size (4 KiB) from the page_pool, others from the heap.
template <class T>
struct read_buffer_allocator {
    using value_type = T;
    read_buffer_allocator() noexcept = default;
    template <class U>
    read_buffer_allocator(const read_buffer_allocator<U>&) noexcept {}

    T* allocate(std::size_t n) {
        if (n * sizeof(T) == page_pool::block_size && page_pool::usable()) {
            return static_cast<T*>(page_pool::local().take());
        }
        return std::allocator<T>().allocate(n);
    }
    void deallocate(T* p, std::size_t n) noexcept {
        if (n * sizeof(T) == page_pool::block_size && page_pool::usable()) return page_pool::local().give(p);
        std::allocator<T>().deallocate(p, n);
    }
    friend bool operator==(const read_buffer_allocator&, const read_buffer_allocator&) noexcept { return true; }
};

using read_buffer = beast::basic_flat_buffer<read_buffer_allocator<char>>;

/// The request headers the transport reads, found in one pass over the
/// fields: each is the first field of its name, as basic_fields::operator[]
/// answers (empty when absent). Views into the request.
class request_headers {
public:
    enum name : unsigned {
        authorization,
        host,
        origin,
        x_requested_with,
        user_agent,
        access_control_request_method,
        access_control_request_headers,
        content_encoding,
        expect,
        content_type,
        accept_encoding,
        count
    };

    template <class Fields>
    explicit request_headers(const Fields& fields) {
        for (const auto& field : fields) {
            switch (field.name()) {
            case http::field::authorization: keep(authorization, field.value()); break;
            case http::field::host: keep(host, field.value()); break;
            case http::field::origin: keep(origin, field.value()); break;
            case http::field::user_agent: keep(user_agent, field.value()); break;
            case http::field::access_control_request_method: keep(access_control_request_method, field.value()); break;
            case http::field::access_control_request_headers:
                keep(access_control_request_headers, field.value());
                break;
            case http::field::content_encoding: keep(content_encoding, field.value()); break;
            case http::field::expect: keep(expect, field.value()); break;
            case http::field::content_type: keep(content_type, field.value()); break;
            case http::field::accept_encoding: keep(accept_encoding, field.value()); break;
            default:
                if (beast::iequals(field.name_string(), "X-Requested-With")) keep(x_requested_with, field.value());
                break;
            }
        }
    }

    std::string_view get(name which) const { return values_[which]; }

private:
    void keep(name which, std::string_view value) {
        if (seen_ & (1u << which)) return;
        seen_ |= 1u << which;
        values_[which] = value;
    }

    std::array<std::string_view, count> values_{};
    unsigned seen_ = 0;
};

/// A response's header with what Beast's basic_fields and its serializer
/// would make of it (same bytes), without their allocations and tree: set()
/// trims the value, replaces every field of that name (any case) and appends.
/// The views must outlive serialize().
class reply_head {
public:
    void set(std::string_view name, std::string_view value) {
        if (name.size() + 2 > max_part || value.size() + 2 > max_part) throw std::length_error("field too large");
        value = util::trim(value, util::http_whitespace);
        fields_.erase(std::remove_if(fields_.begin(), fields_.end(),
                                     [&](const auto& field) { return beast::iequals(field.first, name); }),
                      fields_.end());
        fields_.emplace_back(name, value);
    }

    /// "HTTP/x.y NNN reason\r\n", "name: value\r\n" per field, "\r\n"; in
    /// `stack` if it fits, else in `heap`.
    template <std::size_t N>
    std::string_view serialize(unsigned version, unsigned code, std::string_view reason, char (&stack)[N],
                               std::string& heap) const {
        std::size_t size = 13 + reason.size() + 2 + 2;
        for (const auto& [name, value] : fields_) size += name.size() + 2 + value.size() + 2;
        char* out = stack;
        if (size > N) {
            heap.resize(size);
            out = heap.data();
        }
        char* p = out;
        const char start[13] = {'H', 'T', 'T', 'P', '/', static_cast<char>('0' + version / 10), '.',
                                static_cast<char>('0' + version % 10), ' ', static_cast<char>('0' + code / 100),
                                static_cast<char>('0' + (code / 10) % 10), static_cast<char>('0' + code % 10), ' '};
        p = put(p, std::string_view(start, sizeof start));
        p = put(p, reason);
        p = put(p, "\r\n");
        for (const auto& [name, value] : fields_) {
            p = put(put(put(put(p, name), ": "), value), "\r\n");
        }
        p = put(p, "\r\n");
        return {out, static_cast<std::size_t>(p - out)};
    }

private:
    static constexpr std::size_t max_part = 65535;  // basic_fields' 16-bit offsets

    static char* put(char* p, std::string_view text) {
        std::memcpy(p, text.data(), text.size());
        return p + text.size();
    }

    boost::container::small_vector<std::pair<std::string_view, std::string_view>, 12> fields_;
};

/// The canned answer beyond `web.max_connections` (no fiber is spent on it).
class busy_reply : public std::enable_shared_from_this<busy_reply> {
public:
    /// `pending` counts the replies alive (it must outlive them).
    busy_reply(tcp::socket socket, std::atomic<int>& pending)
        : socket_(std::move(socket)), timer_(socket_.get_executor()), pending_(pending) {
        ++pending_;
    }
    ~busy_reply() { --pending_; }
    busy_reply(const busy_reply&) = delete;
    busy_reply& operator=(const busy_reply&) = delete;

    void start() {
        static const std::string response =
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 20\r\nConnection: close\r\n\r\nServer is too busy\r\n";
        auto self = shared_from_this();
        asio::async_write(socket_, asio::buffer(response), [self](const boost::system::error_code& ec, std::size_t) {
            if (ec) return self->close();
            boost::system::error_code ignored;
            self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
            // Read what the client sent until it closes (a close with unread
            // data would reset the connection and lose the 503), 2 s at most.
            self->timer_.expires_after(std::chrono::seconds(2));
            self->timer_.async_wait([self](const boost::system::error_code& timer_ec) {
                if (!timer_ec) self->close();
            });
            self->drain();
        });
    }

private:
    void drain() {
        auto self = shared_from_this();
        socket_.async_read_some(asio::buffer(scratch_), [self](const boost::system::error_code& ec, std::size_t) {
            if (ec) {
                self->timer_.cancel();
                return self->close();
            }
            self->drain();
        });
    }
    void close() {
        boost::system::error_code ignored;
        socket_.close(ignored);
    }

    tcp::socket socket_;
    asio::steady_timer timer_;
    std::atomic<int>& pending_;
    std::array<char, 4096> scratch_{};
};

/// At most this many 503 answers linger at once (each keeps its socket up to
/// 2 s); beyond, a refused connection is closed at once, so that a flood of
/// refused connections cannot run the process out of file descriptors.
constexpr int max_busy_replies = 256;

}  // namespace

struct http_server::impl {
    impl(const config& c, rpc_handler& h, server_flags f) : cfg(c), handler(h), flags(f), pool(c.web.workers) {
        std::size_t threads = cfg.web.threads > 0 ? static_cast<std::size_t>(cfg.web.threads)
                                                  : std::max(1u, std::thread::hardware_concurrency());
        for (std::size_t i = 0; i < threads; ++i) {
            ios.push_back(std::make_unique<asio::io_context>(1));
            guards.emplace_back(asio::make_work_guard(*ios.back()));
            idles.push_back(std::make_unique<idle_list>(*ios.back()));
        }
        acceptor.emplace(*ios.front());
        codec.dev = flags.dev;
    }

    ~impl() {
        guards.clear();  // they point into the io_contexts
        for (auto& io : ios) io->stop();
        for (auto& thread : threads) {
            if (thread.joinable()) thread.join();
        }
        pool.join();
        set_blocking_pool(previous_pool);
        acceptor.reset();
        // The timers before their io_contexts; the lists stay for the fibers
        // unwound below, which unlink themselves.
        for (auto& list : idles) list->timer.reset();
        // The io_contexts go last: destroying them unwinds fibers still suspended.
        // The acceptor's one first: a pending accept may own a socket of another
        // io_context, which must still exist when that operation is destroyed.
        for (auto& io : ios) io.reset();
        ios.clear();
    }

    void debug(const std::string& line) const {
        if (flags.verbose) log_info("debug: " + line);
    }

    void start() {
        tcp::resolver resolver(*ios.front());
        const auto endpoints = resolver.resolve(cfg.web.host, std::to_string(cfg.web.port));
        if (endpoints.empty()) throw std::system_error(std::make_error_code(std::errc::address_not_available));
        const tcp::endpoint endpoint = *endpoints.begin();
        acceptor->open(endpoint.protocol());
        acceptor->set_option(tcp::acceptor::reuse_address(true));
        acceptor->bind(endpoint);
        acceptor->listen(asio::socket_base::max_listen_connections);
        bound = acceptor->local_endpoint();
        previous_pool = set_blocking_pool(&pool);
        accept_next();
        for (auto& io : ios) {
            threads.emplace_back([this, io = io.get()] { run_io(*io); });
        }
    }

    void run_io(asio::io_context& io) {
        for (;;) {
            try {
                io.run();
                return;
            } catch (const std::exception& e) {
                log_error(std::string("http server: a handler failed: ") + e.what());
            }
        }
    }

    void accept_next() {
        const std::size_t index = next_io++ % ios.size();
        asio::io_context& target = *ios[index];
        acceptor->async_accept(target, [this, &target, index](const boost::system::error_code& ec, tcp::socket socket) {
            if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
            if (ec) {
                log_warning("http server: accept failed: " + ec.message());
                retry_accept_later();
                return;
            }
            hand_over(target, *idles[index], std::move(socket));
            accept_next();
        });
    }

    void retry_accept_later() {
        auto timer = std::make_shared<asio::steady_timer>(*ios.front(), std::chrono::milliseconds(100));
        timer->async_wait([this, timer](const boost::system::error_code& ec) {
            if (!ec && acceptor->is_open()) accept_next();
        });
    }

    void hand_over(asio::io_context& io, idle_list& idle_connections, tcp::socket socket) {
        auto control = std::make_shared<connection_control>();
        control->io = &io;
        control->idles = &idle_connections;
        boost::system::error_code ec;
        const auto remote = socket.remote_endpoint(ec);
        if (!ec) {
            control->address = remote.address().to_string();
            control->network = network_of(remote.address(), cfg.session.ip_network_4, cfg.session.ip_network_6);
        }
        control->wait_begins();  // for its first request
        if (!admit(control)) {
            if (busy_replies.load() < max_busy_replies) {
                std::make_shared<busy_reply>(std::move(socket), busy_replies)->start();
            }  // else the socket closes here
            return;
        }
        // A shared_ptr keeps the socket copyable for std::function.
        auto held = std::make_shared<tcp::socket>(std::move(socket));
        fiber::spawn_fiber(
            io,
            [this, held, control] {
                struct on_exit {
                    impl& self;
                    std::shared_ptr<connection_control> control;
                    ~on_exit() {
                        control->idles->unlink(*control);
                        control->stream = nullptr;
                        {
                            std::lock_guard lock(self.registry_mutex);
                            self.unregister(control);
                        }
                        self.connection_ended();
                    }
                } exit_guard{*this, control};
                serve(std::move(*held), *control);
            },
            [](std::exception_ptr error) { fiber::log_fiber_exception(error, "connection"); }, connection_stack_size);
    }

    /// Registers a new connection unless a cap refuses it. A network at
    /// `web.max_connections_per_network`, or the server at
    /// `web.max_connections`, first makes room by closing the connection that
    /// has waited longest for its next request or for the rest of its headers
    /// (of that network, else of the network with most connections): a client
    /// that holds many sockets open and idle loses its own, the others keep
    /// theirs. Refused (503) only when every candidate is busy with a request.
    bool admit(const std::shared_ptr<connection_control>& control) {
        std::shared_ptr<connection_control> victim;
        {
            std::lock_guard lock(registry_mutex);
            auto& mine = networks[control->network];
            const std::size_t cap_per_network = static_cast<std::size_t>(cfg.web.max_connections_per_network);
            const bool network_full = cap_per_network > 0 && mine.size() - evicting_in(mine) >= cap_per_network;
            const bool server_full = registry.size() - evicting >= static_cast<std::size_t>(cfg.web.max_connections);
            if (network_full) {
                victim = longest_waiting(mine);
            } else if (server_full) {
                victim = longest_waiting(largest_network());
                if (!victim) {
                    for (const auto& [network, members] : networks) {
                        if (auto candidate = longest_waiting(members);
                            candidate && (!victim || candidate->waiting_since < victim->waiting_since)) {
                            victim = candidate;
                        }
                    }
                }
            }
            if ((network_full || server_full) && !victim) {
                if (mine.empty()) networks.erase(control->network);
                debug(std::string("connection refused: too busy (web.max_connections") +
                      (network_full ? "_per_network) from " : ") from ") + control->network);
                return false;
            }
            if (victim) {
                victim->eviction_pending = true;
                ++evicting;
            }
            registry.insert(control);
            mine.push_back(control);
            live.fetch_add(1);
        }
        if (victim) {
            debug("connection from " + victim->network + " closed to make room (waiting longest)");
            asio::post(*victim->io, [this, victim] {
                if (victim->stream && victim->waiting.load(std::memory_order_relaxed)) {
                    victim->evicted = true;
                    victim->stream->cancel();
                    return;
                }
                // Busy by now (or gone): it stays.
                std::lock_guard lock(registry_mutex);
                if (victim->eviction_pending) {
                    victim->eviction_pending = false;
                    --evicting;
                }
            });
        }
        return true;
    }

    /// Under registry_mutex.
    void unregister(const std::shared_ptr<connection_control>& control) {
        registry.erase(control);
        if (control->eviction_pending) {
            control->eviction_pending = false;
            --evicting;
        }
        auto found = networks.find(control->network);
        if (found == networks.end()) return;
        auto& members = found->second;
        members.erase(std::remove(members.begin(), members.end(), control), members.end());
        if (members.empty()) networks.erase(found);
    }

    static std::size_t evicting_in(const std::vector<std::shared_ptr<connection_control>>& members) {
        return static_cast<std::size_t>(std::count_if(members.begin(), members.end(),
                                                      [](const auto& c) { return c->eviction_pending; }));
    }

    static std::shared_ptr<connection_control> longest_waiting(
        const std::vector<std::shared_ptr<connection_control>>& members) {
        std::shared_ptr<connection_control> best;
        std::int64_t best_since = 0;
        for (const auto& c : members) {
            if (c->eviction_pending || !c->waiting.load(std::memory_order_relaxed)) continue;
            const auto since = c->waiting_since.load(std::memory_order_relaxed);
            if (!best || since < best_since) {
                best = c;
                best_since = since;
            }
        }
        return best;
    }

    const std::vector<std::shared_ptr<connection_control>>& largest_network() const {
        static const std::vector<std::shared_ptr<connection_control>> none;
        const std::vector<std::shared_ptr<connection_control>>* largest = &none;
        for (const auto& [network, members] : networks) {
            if (members.size() > largest->size()) largest = &members;
        }
        return *largest;
    }

    void connection_ended() {
        if (live.fetch_sub(1) == 1) {
            std::lock_guard lock(drain_mutex);
            drained.notify_all();
        }
    }

    /// One connection: requests answered in order until close, error or timeout.
    void serve(tcp::socket socket, connection_control& control) {
        const fiber::fiber_yield& yield = *fiber::current_yield();
        beast::tcp_stream stream(std::move(socket));
        control.stream = &stream;
        const std::string& remote_address = control.address;
        debug("connection from " + remote_address);
        read_buffer buffer;
        bool first = true;
        for (;;) {
            if (buffer.size() == 0) {
                if (draining.load()) break;
                if (!wait_for_request(stream, buffer, control, first, yield)) break;
            }
            if (first && static_cast<const unsigned char*>(buffer.data().data())[0] == tls_handshake_record) {
                debug("TLS ClientHello on the plain port from " + remote_address + ": closed");
                break;
            }
            first = false;
            if (!serve_one(stream, buffer, control, yield)) break;
        }
        if (control.evicted) {
            stream.close();  // a cap chose it: nothing to answer, nothing to wait for
        } else {
            linger_close(stream, yield);
        }
    }

    /// Waits (the buffer empty) for the next request's first bytes, within the
    /// header timeout (first request) or the keep-alive timeout; false: close.
    /// Idle for idle_trim_delay, the connection drops its buffer and the stack
    /// pages request handling touched, then waits on with a 1-byte read.
    bool wait_for_request(beast::tcp_stream& stream, read_buffer& buffer, connection_control& control,
                          bool first, const fiber::fiber_yield& yield) {
        const auto timeout = std::chrono::seconds(first ? cfg.web.header_timeout : cfg.web.keepalive_timeout);
        boost::system::error_code ec;
        control.idle = true;
        control.trim_requested = false;
        control.wait_begins();
        if (timeout > idle_trim_delay) control.idles->link(control);
        stream.expires_after(timeout);
        std::size_t n = stream.async_read_some(buffer.prepare(4096), yield[ec]);
        control.idles->unlink(control);
        if (!ec) {
            control.idle = false;
            buffer.commit(n);
            return true;
        }
        // The sweeper's cancel (any other error or cancel closes).
        if (ec != asio::error::operation_aborted || !control.trim_requested || control.evicted || draining.load()) {
            return false;
        }
        const auto left = control.idle_since + timeout - std::chrono::steady_clock::now();
        if (left <= std::chrono::steady_clock::duration::zero()) return false;
        buffer.shrink_to_fit();
        fiber::release_unused_fiber_stack();
        char first_byte = 0;
        stream.expires_after(left);
        n = stream.async_read_some(asio::buffer(&first_byte, 1), yield[ec]);
        control.idle = false;
        if (ec) return false;
        *static_cast<char*>(buffer.prepare(4096).data()) = first_byte;
        buffer.commit(n);
        return true;
    }

    /// Closing with unread request bytes would reset the connection, and the
    /// client could lose the error response just sent (413, 415…): send FIN,
    /// then discard what the client still sends, for a second at most.
    void linger_close(beast::tcp_stream& stream, const fiber::fiber_yield& yield) {
        boost::system::error_code ec;
        if (!stream.socket().is_open()) return;
        stream.socket().shutdown(tcp::socket::shutdown_send, ec);
        if (!ec) {
            std::array<char, 16384> scratch;
            std::size_t discarded = 0;
            stream.expires_after(std::chrono::seconds(1));
            while (discarded < 16 * 1024 * 1024) {
                discarded += stream.async_read_some(asio::buffer(scratch), yield[ec]);
                if (ec) break;
            }
        }
        stream.close();
    }

    /// Reads, handles and answers one request; false: close the connection.
    bool serve_one(beast::tcp_stream& stream, read_buffer& buffer, connection_control& control,
                   const fiber::fiber_yield& yield) {
        const std::string& remote_address = control.address;
        boost::system::error_code ec;
        http::request_parser<http::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(cfg.web.max_header_size));
        // Beast checks Content-Length against the body limit while parsing the
        // header (default 1 MB); ours depends on the headers: decided below.
        parser.body_limit(boost::none);
        stream.expires_after(std::chrono::seconds(cfg.web.header_timeout));
        http::async_read_header(stream, buffer, parser, yield[ec]);
        control.wait_ends();
        if (control.evicted) return false;
        if (ec == http::error::header_limit) {
            write_plain(stream, 11, 431, "Request header fields too large", {}, false, yield);
            return false;
        }
        if (ec == beast::error::timeout) {
            debug("header timeout from " + remote_address);
            return false;
        }
        if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset) return false;
        if (ec) {
            write_plain(stream, 11, 400, "Bad request", {}, false, yield);
            return false;
        }
        auto& request = parser.get();
        const unsigned version = request.version();
        const request_headers headers(request);
        rpc_http_info info;
        info.authorization = std::string(headers.get(request_headers::authorization));
        info.host = std::string(headers.get(request_headers::host));
        info.origin = std::string(headers.get(request_headers::origin));
        info.x_requested_with = std::string(headers.get(request_headers::x_requested_with));
        info.user_agent = std::string(headers.get(request_headers::user_agent));
        info.remote_address = remote_address;
        bool keep_alive = request.keep_alive() && !draining.load();
        const bool has_body = request.has_content_length() || request.chunked();
        const std::string request_id = "r" + std::to_string(++request_counter);

        std::vector<std::pair<std::string, std::string>> cors_headers;
        if (!origin_allowed(info.origin, info.host, cfg.web.cors)) {
            debug(request_id + " origin refused: " + info.origin);
            write_plain(stream, version, 403, "Origin not allowed", {}, false, yield);
            return false;
        }
        if (!info.origin.empty()) {
            cors_headers.emplace_back("Access-Control-Allow-Origin", info.origin);
            cors_headers.emplace_back("Vary", "Origin");
            if (auto m = headers.get(request_headers::access_control_request_method); !m.empty()) {
                cors_headers.emplace_back("Access-Control-Allow-Methods", std::string(m));
            }
            if (auto h = headers.get(request_headers::access_control_request_headers); !h.empty()) {
                cors_headers.emplace_back("Access-Control-Allow-Headers", std::string(h));
            }
            cors_headers.emplace_back("Access-Control-Max-Age", std::to_string(cfg.web.cache_timeout));
        }
        if (request.method() == http::verb::options) {
            rpc_http_reply reply;
            reply.status = 204;
            reply.content_type.clear();
            // A body we do not read would be taken for the next request.
            return write_reply(stream, version, reply, cors_headers, keep_alive && !has_body, false, request_id, yield);
        }
        if (request.method() != http::verb::post) {
            auto reply = plain_http_reply(405, "Method not allowed");
            reply.headers.emplace_back("Allow", "POST, OPTIONS");
            return write_reply(stream, version, reply, cors_headers, false, false, request_id, yield);
        }
        const auto route = match_route(request.target());
        if (!route) {
            return write_reply(stream, version, plain_http_reply(404, "Not found"), cors_headers, false, false, request_id,
                               yield);
        }
        if (route->bus) {  // no bus yet: 501 tells the Tryton client to stop polling (404 makes it retry)
            return write_reply(stream, version, plain_http_reply(501, "Not implemented: no bus"), cors_headers, false,
                               false, request_id, yield);
        }
        const auto length = parser.content_length();
        if (!length) {
            return write_reply(stream, version, plain_http_reply(411, "Length required"), cors_headers, false, false,
                               request_id, yield);
        }
        const std::string encoding = header_token(headers.get(request_headers::content_encoding));
        const bool gzipped = encoding == "gzip" || encoding == "x-gzip";
        if (!encoding.empty() && encoding != "identity" && !gzipped) {
            return write_reply(stream, version, plain_http_reply(415, "Unsupported media type"), cors_headers, false,
                               false, request_id, yield);
        }
        // The large limit and gzip only for credentials the handler verified
        // (a forged Session header must not open them), asked only when they
        // matter, before any of the body is read.
        bool authenticated = false;
        if (gzipped || *length > cfg.request.max_size) {
            std::optional<rpc_http_reply> refusal;
            try {
                authenticated = handler.authenticated_for_limits(route->database, info);
            } catch (const http_error& error) {
                refusal = plain_http_reply(error.status(), error.what(), info, error.retry_after_seconds());
            } catch (const std::exception& error) {
                log_error(request_id + " credentials check failed: " + error.what());
                refusal = plain_http_reply(500, "Internal error", info);
            }
            if (refusal) return write_reply(stream, version, *refusal, cors_headers, false, false, request_id, yield);
        }
        const std::uint64_t limit = authenticated ? cfg.request.max_size_authenticated : cfg.request.max_size;
        if (gzipped && !authenticated) {
            return write_reply(stream, version, plain_http_reply(415, "Unsupported media type"), cors_headers, false,
                               false, request_id, yield);
        }
        if (*length > limit) {
            return write_reply(stream, version, plain_http_reply(413, "Request entity too large"), cors_headers, false,
                               false, request_id, yield);
        }
        parser.body_limit(limit);
        stream.expires_after(std::chrono::seconds(cfg.web.request_timeout));
        if (version == 11 && header_token(headers.get(request_headers::expect)) == "100-continue") {
            // curl and others wait for this before sending a large body.
            http::response<http::empty_body> go_on{http::status::continue_, version};
            http::async_write(stream, go_on, yield[ec]);
            if (ec) return false;
        }
        http::async_read(stream, buffer, parser, yield[ec]);
        if (ec == http::error::body_limit) {
            write_reply(stream, version, plain_http_reply(413, "Request entity too large"), cors_headers, false, false,
                        request_id, yield);
            return false;
        }
        if (ec) return false;
        stream.expires_never();  // the call itself may take long; the client waits
        std::string body = std::move(request.body());
        if (gzipped) {
            // Stopped the moment the output passes the limit (a bomb never
            // gets further than the cap). A first step here; what is left of a
            // large body on the worker pool, where its CPU time and page
            // faults stall none of this thread's other connections.
            std::string inflated;
            gzip_inflater inflater(body, limit);
            std::optional<inflate_status> status = inflater.step(inflated, inflate_step);
            if (!status) {
                run_blocking([&] {
                    while (!(status = inflater.step(inflated, inflate_step))) {
                    }
                });
            }
            std::string().swap(body);
            switch (*status) {
            case inflate_status::ok:
                body = std::move(inflated);
                break;
            case inflate_status::too_large:
                return write_reply(stream, version, plain_http_reply(413, "Request entity too large"), cors_headers,
                                   false, false, request_id, yield);
            case inflate_status::invalid:
                return write_reply(stream, version, plain_http_reply(400, "Invalid gzip body"), cors_headers, false,
                                   false, request_id, yield);
            }
        }
        rpc_call_context context;
        context.database = route->database;
        context.http = std::move(info);
        context.request_id = request_id;
        const auto reply = handle_jsonrpc(body, headers.get(request_headers::content_type), context, handler, codec);
        const bool gzip_reply = accepts_gzip(headers.get(request_headers::accept_encoding));
        keep_alive = keep_alive && !draining.load();
        return write_reply(stream, version, reply, cors_headers, keep_alive, gzip_reply, request_id, yield);
    }

    bool write_reply(beast::tcp_stream& stream, unsigned version, const rpc_http_reply& reply,
                     const std::vector<std::pair<std::string, std::string>>& extra, bool keep_alive, bool gzip_ok,
                     const std::string& request_id, const fiber::fiber_yield& yield) {
        reply_head head;
        head.set("Server", "Atrium");
        head.set("X-Request-Id", request_id);
        for (const auto& [name, value] : extra) head.set(name, value);
        for (const auto& [name, value] : reply.headers) head.set(name, value);
        if (!reply.content_type.empty()) head.set("Content-Type", reply.content_type);
        std::string gzipped;
        std::string_view body = reply.body;
        if (gzip_ok && reply.body.size() > gzip_threshold) {
            gzipped = reply.body.size() < offload_size ? gzip_deflate(reply.body)
                                                       : run_blocking([&] { return gzip_deflate(reply.body); });
            body = gzipped;
            head.set("Content-Encoding", "gzip");
            head.set("Vary", extra.empty() ? "Accept-Encoding" : "Origin, Accept-Encoding");
        }
        if (reply.status >= 400) debug(request_id + " HTTP " + std::to_string(reply.status));
        // message::keep_alive() on a header without Connection (neither the
        // codec nor the CORS headers ever set one).
        if (version < 11 && keep_alive) head.set("Connection", "keep-alive");
        if (version >= 11 && !keep_alive) head.set("Connection", "close");
        // message::prepare_payload() for a body of known size.
        const auto status = static_cast<http::status>(reply.status);
        if (!body.empty() && (http::to_status_class(status) == http::status_class::informational ||
                              status == http::status::no_content || status == http::status::not_modified)) {
            throw std::invalid_argument("invalid response body");
        }
        char length[24];
        const auto length_end = std::to_chars(length, length + sizeof length, body.size()).ptr;
        head.set("Content-Length", std::string_view(length, static_cast<std::size_t>(length_end - length)));

        char stack_text[1024];
        std::string heap_text;
        const std::string_view text = head.serialize(version, static_cast<unsigned>(reply.status),
                                                     http::obsolete_reason(status), stack_text, heap_text);
        const std::array<asio::const_buffer, 2> buffers{asio::buffer(text.data(), text.size()),
                                                        asio::buffer(body.data(), body.size())};
        boost::system::error_code ec;
        stream.expires_after(std::chrono::seconds(cfg.web.request_timeout));
        asio::async_write(stream, buffers, yield[ec]);
        return !ec && keep_alive;
    }

    void write_plain(beast::tcp_stream& stream, unsigned version, int status, std::string_view message,
                     const rpc_http_info& info, bool keep_alive, const fiber::fiber_yield& yield) {
        write_reply(stream, version, plain_http_reply(status, message, info), {}, keep_alive, false,
                    "r" + std::to_string(++request_counter), yield);
    }

    bool shutdown() {
        if (stopped.exchange(true)) return true;
        draining.store(true);
        // Stop accepting (on the acceptor's thread), then close idle connections.
        {
            std::promise<void> closed;
            asio::post(*ios.front(), [&] {
                boost::system::error_code ignored;
                acceptor->close(ignored);
                closed.set_value();
            });
            closed.get_future().wait();
        }
        {
            std::lock_guard lock(registry_mutex);
            for (const auto& control : registry) {
                asio::post(*control->io, [control] {
                    if (control->stream && control->idle) control->stream->cancel();
                });
            }
        }
        bool clean = true;
        {
            std::unique_lock lock(drain_mutex);
            clean = drained.wait_for(lock, std::chrono::seconds(cfg.web.drain_timeout), [&] { return live.load() == 0; });
        }
        if (!clean) log_warning("http server: drain timeout, " + std::to_string(live.load()) + " connection(s) cut off");
        for (auto& guard : guards) guard.reset();
        for (auto& io : ios) io->stop();
        for (auto& thread : threads) {
            if (thread.joinable()) thread.join();
        }
        return clean;
    }

    config cfg;
    rpc_handler& handler;
    server_flags flags;
    codec_options codec;
    worker_pool pool;
    worker_pool* previous_pool = nullptr;
    std::vector<std::unique_ptr<asio::io_context>> ios;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    std::vector<std::unique_ptr<idle_list>> idles;  ///< one per io_context
    std::vector<std::thread> threads;
    std::optional<tcp::acceptor> acceptor;
    tcp::endpoint bound;
    std::size_t next_io = 0;  // acceptor thread only
    std::atomic<int> live{0};
    std::atomic<int> busy_replies{0};  ///< busy_reply objects alive (they die with the io_contexts)
    std::atomic<std::uint64_t> request_counter{0};
    std::atomic<bool> draining{false};
    std::atomic<bool> stopped{false};
    std::mutex registry_mutex;
    std::set<std::shared_ptr<connection_control>> registry;
    /// The same connections by network, for the per-network cap (registry_mutex).
    std::unordered_map<std::string, std::vector<std::shared_ptr<connection_control>>> networks;
    std::size_t evicting = 0;  ///< chosen to make room, not yet gone (registry_mutex)
    std::mutex drain_mutex;
    std::condition_variable drained;
};

http_server::http_server(const config& cfg, rpc_handler& handler, server_flags flags)
    : impl_(std::make_unique<impl>(cfg, handler, flags)) {}

http_server::~http_server() {
    if (impl_ && !impl_->threads.empty()) impl_->shutdown();
}

void http_server::start() { impl_->start(); }

std::string http_server::address() const { return impl_->bound.address().to_string(); }

std::uint16_t http_server::port() const { return impl_->bound.port(); }

bool http_server::shutdown() { return impl_->shutdown(); }

}  // namespace atrium::server
