#include "fiber/io_context_pool.hpp"

#include "fiber/report.hpp"
#include "fiber/runtime.hpp"

#include <exception>
#include <stdexcept>

namespace atrium::fiber {

io_context_pool::io_context_pool(std::size_t size, std::string name) : name_(std::move(name)) {
    if (size == 0) throw std::invalid_argument("io_context_pool: no io_context");
    for (std::size_t i = 0; i < size; ++i) {
        ios_.push_back(std::make_unique<boost::asio::io_context>(1));
        guards_.emplace_back(boost::asio::make_work_guard(*ios_.back()));
    }
}

io_context_pool::~io_context_pool() {
    stop();
    destroy();
}

void io_context_pool::start() {
    for (auto& io : ios_) {
        threads_.emplace_back([this, io = io.get()] { run(*io); });
    }
}

void io_context_pool::run(boost::asio::io_context& io) {
    for (;;) {
        try {
            io.run();
            return;
        } catch (const std::exception& e) {
            // Outside any fiber: io.run() itself, never a fiber's stack.
            report_error(name_ + ": a handler failed: " + e.what());
        }
    }
}

void io_context_pool::stop() {
    guards_.clear();  // they point into the io_contexts
    for (auto& io : ios_) io->stop();
    for (auto& thread : threads_) {
        if (thread.joinable()) thread.join();
    }
    threads_.clear();
}

void io_context_pool::drain(std::chrono::steady_clock::duration limit) {
    for (auto& io : ios_) fiber::drain(*io, limit);
}

void io_context_pool::destroy() noexcept {
    for (auto& io : ios_) io.reset();
    ios_.clear();
}

}  // namespace atrium::fiber
