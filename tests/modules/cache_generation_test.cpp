// The cache generation that carries changes of cached rows (access rights,
// active modules) to every process (modules/cache_generation.hpp), on both
// backends: announced at commit, never trusted while unheard, and what a
// transaction read before a change it heard of is not cached.

#include "modules/access.hpp"
#include "modules/cache_generation.hpp"
#include "modules/registry.hpp"
#include "tests/modules/modules_fixture.hpp"
#include "transaction/transaction.hpp"

#include <doctest/doctest.h>

using namespace atrium;
using namespace atrium::modules;
using namespace atrium::test;
using nlohmann::json;

namespace {

// SQLite moves the shared counter itself; PostgreSQL's listener is the
// dispatcher's: here the test plays it (listening, then each NOTIFY heard).
bool postgresql(db::database& database) { return database.change_counter(cache_channel) == nullptr; }

}  // namespace

TEST_CASE("modules: the cache generation moves with an access change, at commit, and stamps no stale read") {
    modules_database f;
    auto generation = generation_of(*f.db());
    CHECK(generation_of(*f.db()) == generation);  // one per database
    const bool pg = postgresql(*f.db());
    if (pg) {
        CHECK(generation->current() == 0);  // nobody listens: nothing may be cached
        generation->listening(true);
    }
    const auto before = generation->current();
    CHECK(before != 0);
    std::int64_t group = 0;
    {
        auto scope = begin(f.db(), root_user);
        const auto p = current_pool();
        CHECK(p->generation() == generation);  // the pool is bound to its database's generation
        // A transaction that started before the generation moved may not stamp what it reads.
        CHECK(generation->stamp(&current()) != 0);
        group = p->get("res.group").create(json::array({{{"name", "g"}}}))[0];
        if (!pg) CHECK(generation->current() != before);  // SQLite: at once, again after the end
        if (pg) generation->heard();                        // PostgreSQL: the NOTIFY, heard after commit
        CHECK(generation->stamp(&current()) == 0);
    }
    const auto after = generation->current();
    CHECK(after != before);
    {
        auto scope = begin(f.db(), root_user);
        CHECK(generation->stamp(&current()) == after);  // nothing moved since it started
    }
    if (pg) {
        generation->listening(false);
        CHECK(generation->current() == 0);
    }
    CHECK(group > 0);
}
