#pragma once
/// @file
/// @brief run_in_fiber(): runs a test body inside a fiber spawned by the
/// fiber runtime (fiber/runtime.hpp) on a fresh io_context, exactly as a request would
/// run, and rethrows its exception (a failed REQUIRE included) into the test.

#include <cstddef>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

namespace atrium::test {

/// Default stack of test fibers (the runtime's default, 256 KiB).
inline constexpr std::size_t test_fiber_stack_size = 256 * 1024;

/// Runs `fn` in a fiber on a new io_context until the io_context runs out of
/// work. Rethrows the body's exception; throws std::logic_error if the fiber
/// did not finish (it waited for something that never came; it is unwound).
void run_in_fiber(std::function<void()> fn, std::size_t stack_size = test_fiber_stack_size);

/// The same for a body that returns a value; returns it.
template <class Fn>
    requires(!std::is_void_v<std::invoke_result_t<Fn&>>)
std::invoke_result_t<Fn&> run_in_fiber(Fn fn, std::size_t stack_size = test_fiber_stack_size) {
    std::optional<std::invoke_result_t<Fn&>> result;
    run_in_fiber(std::function<void()>([&] { result.emplace(fn()); }), stack_size);
    return std::move(*result);
}

}  // namespace atrium::test
