#include "database/pooled_connection.hpp"

#include "database/database.hpp"

#include <utility>

namespace atrium::db {

pooled_connection::pooled_connection() noexcept = default;

pooled_connection::pooled_connection(std::unique_ptr<connection> conn,
                                     std::weak_ptr<connection_pool> pool) noexcept
    : conn_(std::move(conn)), pool_(std::move(pool)) {}

pooled_connection::~pooled_connection() { give_back(false); }

pooled_connection::pooled_connection(pooled_connection&& other) noexcept
    : conn_(std::move(other.conn_)), pool_(std::move(other.pool_)) {}

pooled_connection& pooled_connection::operator=(pooled_connection&& other) noexcept {
    if (this != &other) {
        give_back(false);
        conn_ = std::move(other.conn_);
        pool_ = std::move(other.pool_);
    }
    return *this;
}

void pooled_connection::give_back(bool discard) noexcept {
    if (!conn_) return;
    auto pool = pool_.lock();
    pool_.reset();
    if (pool) {
        pool->give_back(std::move(conn_), discard);
    } else {
        conn_.reset();  // the pool is gone: nothing counts it any more
    }
}

}  // namespace atrium::db
