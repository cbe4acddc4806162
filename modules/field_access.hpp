#pragma once
// Which fields a caller may name (issue 17): when access is checked, a
// secret field (a password hash) or a field of a model the caller may not
// read is unusable in read fields, domains, dotted paths and orders, on every
// model a path crosses, so nothing can be learnt of it by searching. Root and
// module code under without_check_access() are not checked.

#include <string_view>

namespace atrium::modules {

class model;
struct field;

/// Throws access_error when the caller may not use `f` of `m` (it is secret).
void check_field_readable(const model& m, const field& f);

/// Walks the (dotted) `path` from `m`: every field on the way must be
/// readable and every model it crosses readable (access_error otherwise).
/// Unknown fields and non-relations are left to the caller to report.
void check_path_readable(const model& m, std::string_view path);

}  // namespace atrium::modules
