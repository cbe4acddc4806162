#include "fiber/unwind.hpp"

// The tiny forced_unwind header of Boost.Context (no Asio here, see unwind.hpp).
#include <boost/context/detail/exception.hpp>

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <typeinfo>

namespace atrium::fiber {

namespace {

using forced_unwind = boost::context::detail::forced_unwind;

std::string demangle(const char* name) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> readable(abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free);
    return status == 0 && readable ? std::string(readable.get()) : std::string(name);
}

}  // namespace

void rethrow_if_unwinding() {
    try {
        throw;
    } catch (const forced_unwind&) {
        throw;
    } catch (...) {
        // Anything else is the caller's to handle.
    }
}

bool is_unwinding(const std::exception_ptr& error) noexcept {
    if (!error) return false;
    try {
        std::rethrow_exception(error);
    } catch (const forced_unwind&) {
        return true;
    } catch (...) {
        return false;
    }
}

std::exception_ptr make_unwinding_exception() { return std::make_exception_ptr(forced_unwind{}); }

std::string describe(const std::exception_ptr& error) {
    if (!error) return "no exception";
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return demangle(typeid(e).name()) + ": " + e.what();
    } catch (const forced_unwind&) {
        return "boost::context::detail::forced_unwind";
    } catch (...) {
        // forced_unwind is caught just above: describing never unwinds a fiber.
        if (const std::type_info* type = abi::__cxa_current_exception_type())
            return demangle(type->name()) + ": unknown exception";
        return "unknown exception";
    }
}

}  // namespace atrium::fiber
