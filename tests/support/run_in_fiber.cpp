#include "tests/support/run_in_fiber.hpp"

#include "fiber/runtime.hpp"

#include <exception>
#include <stdexcept>

namespace atrium::test {

void run_in_fiber(std::function<void()> fn, std::size_t stack_size) {
    std::exception_ptr error;
    bool finished = false;
    {
        boost::asio::io_context io(1);
        fiber::spawn_fiber(
            io, std::move(fn),
            [&](std::exception_ptr e) {
                error = e;
                finished = true;
            },
            stack_size);
        io.run();
    }  // a fiber still suspended here is unwound with the io_context
    if (error) std::rethrow_exception(error);
    if (!finished) throw std::logic_error("run_in_fiber: the fiber did not finish (it waited for nothing)");
}

}  // namespace atrium::test
