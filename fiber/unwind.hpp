#pragma once
// The forced-unwind rule, in one place. When a fiber is destroyed while it is
// suspended, Boost.Context unwinds its stack with an exception of its own
// (boost::context::detail::forced_unwind). Code on a fiber path that catches
// everything must let it pass, or the process aborts. So every `catch (...)`
// on a fiber path starts with rethrow_if_unwinding():
//
//     } catch (...) {
//         fiber::rethrow_if_unwinding();
//         ...clean up or log...
//     }
//
// Only unwind.cpp names the Boost.Context detail type: its header must not
// meet Asio's spawn in one translation unit (a redefinition under
// BOOST_USE_UCONTEXT), so no other file includes it.

#include <exception>
#include <string>

namespace atrium::fiber {

/// Inside a catch handler: rethrows the exception being handled if it unwinds
/// a fiber being destroyed; returns otherwise.
void rethrow_if_unwinding();

/// True if `error` unwinds a fiber being destroyed (for code holding a stored exception).
bool is_unwinding(const std::exception_ptr& error) noexcept;

/// An exception as a fiber being destroyed sees it (tests of the rule).
std::exception_ptr make_unwinding_exception();

/// "<demangled dynamic type>: <what()>" for std::exception, "unknown exception"
/// otherwise, "no exception" for nullptr. Never throws the described exception.
std::string describe(const std::exception_ptr& error);

}  // namespace atrium::fiber
