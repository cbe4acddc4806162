#include "modules/independent.hpp"

#include "transaction/transaction.hpp"

namespace atrium::modules {

void run_independently(std::function<void()> work) {
    auto& txn = current();
    if (txn.readonly() || txn.database()->backend_name() == "postgresql") {
        auto scope = new_transaction();
        work();
        scope.close(true);
        return;
    }
    txn.atexit([database = txn.database(), user = txn.user(), context = txn.context(), work = std::move(work)] {
        transaction_options options;
        options.context = context;
        auto scope = begin(database, user, options);
        work();
        scope.close(true);
    });
}

}  // namespace atrium::modules
