#pragma once
// The ir module: models and fields (ir.model, ir.model.field), model access
// rights (ir.model.access), module state (ir.module), sequences
// (ir.sequence, ir.sequence.strict), sessions (ir.session) and the database
// configuration (ir.configuration).

#include <string>

namespace atrium::modules {
class module_registry;
}

namespace atrium::modules::ir {

void register_module(module_registry& registry);

/// The next number of the ir.sequence with this code, formatted (prefix,
/// zero padding, suffix). Updated in the caller's transaction: gaps are
/// possible only when that transaction rolls back. user_error if unknown.
std::string next_number(const std::string& code);

/// The same for an ir.sequence.strict: takes the table lock first
/// (lock_table ⇒ table_lock_required on the first attempt; the dispatcher's
/// retry loop, call_with_retry, starts again with the lock), so concurrent
/// callers are serialised and numbers are gapless.
std::string next_strict_number(const std::string& code);

/// ir.configuration's default language ("en" until set).
std::string default_language();

}  // namespace atrium::modules::ir
