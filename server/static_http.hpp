#pragma once
/// @file
/// @brief Answers a GET or HEAD from the web client's static files
/// (static_files.hpp) on the connection: the file-system work on the worker
/// pool, the reply written with its cached body (no copy).

#include "server/http_reply.hpp"
#include "server/http_shared.hpp"
#include "fiber/runtime.hpp"

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string>
#include <utility>
#include <vector>

namespace atrium::server {

/// Whether `shared.statics` answers this method (GET and HEAD, root enabled).
bool serves_static(const http_shared& shared, beast::http::verb method);

/// Answers `request` from `shared.statics`; true if the connection stays open.
bool serve_static(http_shared& shared, beast::tcp_stream& stream,
                  const beast::http::request<beast::http::string_body>& request,
                  const std::vector<std::pair<std::string, std::string>>& extra, bool keep_alive,
                  const std::string& request_id, const fiber::fiber_yield& yield);

}  // namespace atrium::server
