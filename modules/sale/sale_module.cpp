#include "modules/sale/sale.hpp"

#include "modules/sale/confirm_notice.hpp"
#include "modules/sale/order_fulfilment.hpp"
#include "modules/sale/sale_settings.hpp"
#include "modules/sale/sale_views.hpp"

#include "modules/dialect.hpp"
#include "modules/errors.hpp"
#include "modules/independent.hpp"
#include "modules/ir/ir.hpp"
#include "modules/ir/queue.hpp"
#include "modules/registry.hpp"
#include "modules/res/users.hpp"
#include "transaction/scopes.hpp"
#include "transaction/transaction.hpp"

#include <mutex>
#include <set>

namespace atrium::modules::sale {

using nlohmann::json;

namespace {

std::mutex listeners_mutex;
std::vector<std::function<void(const ids&)>>& listeners() {
    static std::vector<std::function<void(const ids&)>> l;
    return l;
}

json leaf(const char* f, const char* op, json v) { return json::array({f, op, std::move(v)}); }

// Stores line amounts and order totals. Plain UPDATEs: computed columns must
// not go through write() again (it would validate again).
void recompute_orders(const pool& p, const std::set<std::int64_t>& orders) {
    auto& conn = current().connection();
    const model& lines = p.get("sale.order.line");
    for (auto order : orders) {
        decimal total;
        for (const auto& line : lines.browse(lines.search(json::array({leaf("order", "=", order)})),
                                             {"quantity", "unit_price"})) {
            const decimal amount = (line.get<decimal>("quantity") * line.get<decimal>("unit_price")).rounded(2);
            conn.execute("UPDATE \"sale_order_line\" SET \"amount\" = ? WHERE \"id\" = ?",
                         {amount.to_string(), line.id()});
            total += amount;
        }
        conn.execute("UPDATE \"sale_order\" SET \"total\" = ? WHERE \"id\" = ?", {total.rounded(2).to_string(), order});
    }
}

std::set<std::int64_t> orders_of(const model& lines, const ids& records) {
    std::set<std::int64_t> out;
    for (const auto& r : lines.browse(records, {"order"}))
        if (!r.is_null("order")) out.insert(r.get<std::int64_t>("order"));
    return out;
}

// What fulfilment needs of a confirmed order, read back from the database.
order_summary summarize(const pool& p, std::int64_t id) {
    const auto order = p.get("sale.order").browse(id, {"number", "customer", "lines"});
    order_summary summary{.id = id, .number = order.is_null("number") ? "" : order.get<std::string>("number"),
                          .customer = order.get<std::string>("customer"), .email = {}, .lines = {}};
    for (const auto& line : p.get("sale.order.line").browse(order.get<ids>("lines"), {"product", "quantity"}))
        summary.lines.push_back({line.get<std::string>("product"), line.get<decimal>("quantity").to_string()});
    return summary;
}

// The queued half of a confirmation: the mail and the order file join the
// task's own transaction, so they happen once that commits, or not at all
// (the task is then retried).
void send_confirmation(const model& orders, const json& argument) {
    // Only the queue runs it (as root): a client calling it would send the mail again.
    if (current().user() != root_user)
        throw user_error("The confirmation of a sale is sent by the task queue only.");
    if (!argument.is_array()) throw user_error("send_confirmation() takes a list of sale ids.");
    const auto records = argument.get<ids>();
    const pool& p = orders.owner();
    const auto fulfilment = read_fulfilment_settings(*p.config());
    for (const auto& order : orders.browse(records, {"state", "number"})) {
        if (order.get<std::string>("state") != "confirmed" || order.is_null("number")) continue;
        send_documents(current(), summarize(p, order.id()), fulfilment);
    }
}

}  // namespace

void add_confirm_listener(std::function<void(const ids&)> listener) {
    std::lock_guard lock(listeners_mutex);
    listeners().push_back(std::move(listener));
}

void clear_confirm_listeners() {
    std::lock_guard lock(listeners_mutex);
    listeners().clear();
}

void confirm(const model& orders, const ids& records) {
    orders.require_access("write");
    auto guard = without_check_access();
    const pool& p = orders.owner();
    const auto fulfilment = read_fulfilment_settings(*p.config());
    // Check every order before changing any: a UserError leaves all of them as they were.
    const auto found = orders.browse(records, {"reference", "state", "lines", "total", "customer"});
    for (const auto& order : found) {
        const std::string ref = order.is_null("reference") ? "#" + std::to_string(order.id())
                                                           : order.get<std::string>("reference");
        if (order.get<std::string>("state") != "draft")
            throw user_error("The sale \"" + ref + "\" is not a draft.", "Only draft sales can be confirmed.");
        if (order.get<ids>("lines").empty())
            throw user_error("The sale \"" + ref + "\" has no lines.", "Add at least one line before confirming.");
    }
    for (const auto& order : found) {
        if (order.get<decimal>("total") == decimal(0))
            res::warn("sale.order.zero_total," + std::to_string(order.id()),
                      "The sale #" + std::to_string(order.id()) + " has a zero total.");
    }
    for (const auto& order : found) {
        // Strict sequence: the table lock makes numbers gapless; the first
        // attempt raises table_lock_required and the retry loop starts again with it.
        const std::string number = ir::next_strict_number("sale.order");
        orders.write({order.id()}, {{"number", number}, {"state", "confirmed"}, {"confirmed_at", to_json(datetime::now())}});
        const auto user = current().user();
        const auto id = order.id();
        // The audit trail keeps the attempt even if this transaction rolls back later.
        run_independently([keep = p.shared_from_this(), id, number, user] {
            keep->get("sale.audit").create(json::array(
                {{{"order_id", id}, {"action", "confirm"}, {"number", number}, {"user_id", user}}}));
        });
        // The warehouse reservation joins this transaction (two-phase commit);
        // the mail and the order file come from a queued task (send_confirmation),
        // which exists only if this transaction commits.
        const auto summary = summarize(p, id);
        reserve_stock(current(), summary, fulfilment);
        check_order_file(summary, fulfilment);
        ir::enqueue({.model = "sale.order", .method = "send_confirmation", .ids = json::array({id}),
                     .user = root_user});
        notify_confirmed(orders, id, number);  // the bus: "Order SO0042 confirmed" (issue 22)
    }
    current().atexit([records] {
        std::vector<std::function<void(const ids&)>> copy;
        {
            std::lock_guard lock(listeners_mutex);
            copy = listeners();
        }
        for (auto& l : copy) l(records);
    });
}

void register_module(module_registry& registry) {
    module_def sale;
    sale.name = "sale";
    sale.depends = {"ir", "res"};
    sale.description = "Sale orders (the example module)";

    model_def order("sale.order", "Sale");
    order.rec_name = "number";  // as Tryton names a sale; a draft, still unnumbered, shows its id
    const auto draft_only = readonly_unless_draft();  // what the client lets a user change
    order.add(fields::char_field("number", "Number").set_readonly().set_help("Given at confirmation"))
        .add(fields::char_field("reference", "Reference").set_states(draft_only, {"state"}))
        .add(fields::char_field("customer", "Customer").set_required().set_states(draft_only, {"state"}))
        .add(fields::many2one("salesman", "res.user", "Salesman").set_states(draft_only, {"state"}))
        .add(fields::date("sale_date", "Sale Date").set_states(draft_only, {"state"}))
        .add(fields::datetime("confirmed_at", "Confirmed At").set_readonly())
        .add(fields::selection("state", {{"draft", "Draft"}, {"confirmed", "Confirmed"}, {"cancelled", "Cancelled"}},
                               "State")
                 .set_default("draft")
                 .set_readonly())
        .add(fields::one2many("lines", "sale.order.line", "order", "Lines").set_states(draft_only, {"state"}))
        .add(fields::numeric("total", "Total", 2).set_readonly().set_default(json{{"__class__", "Decimal"}, {"decimal", "0.00"}}))
        .add(fields::text("comment", "Comment").set_states(draft_only, {"state"}));
    rpc_definition confirm_rpc;
    confirm_rpc.readonly = false;
    confirm_rpc.instantiate = {rpc_instantiate::kind::index, 0};
    order.add(custom_method{"confirm", confirm_rpc,
                            [](const model& self, const rpc_call& c) {
                                ids records;
                                const auto& a = c.args.empty() ? json() : c.args[0];
                                if (a.is_number_integer()) records = {a.get<std::int64_t>()};
                                else if (a.is_array()) records = a.get<ids>();
                                else throw user_error("confirm() takes a list of sale ids.");
                                confirm(self, records);
                                return json(nullptr);
                            },
                            "confirm(ids): numbers the draft sales and confirms them."});
    rpc_definition send_rpc;
    send_rpc.readonly = false;
    send_rpc.instantiate = {rpc_instantiate::kind::index, 0};
    order.add(custom_method{"send_confirmation", send_rpc,
                            [](const model& self, const rpc_call& c) {
                                send_confirmation(self, c.args.empty() ? json::array() : c.args[0]);
                                return json(nullptr);
                            },
                            "send_confirmation(ids): the confirmation mail and order file (queued by confirm)."});
    order.buttons.push_back(confirm_button());
    sale.models.push_back(std::move(order));

    model_def line("sale.order.line", "Sale Line");
    line.rec_name = "product";
    line.add(fields::many2one("order", "sale.order", "Sale").set_required().set_cascade())
        .add(fields::char_field("product", "Product").set_required())
        .add(fields::numeric("quantity", "Quantity", 3).set_required().set_default(json{{"__class__", "Decimal"}, {"decimal", "1"}}))
        .add(fields::numeric("unit_price", "Unit Price", 4).set_required())
        .add(fields::numeric("amount", "Amount", 2).set_readonly());
    line.access_delegates = {"sale.order"};  // who may change a sale may change its lines
    line.validate = [](const model& self, const ids& records) {
        for (const auto& r : self.browse(records, {"quantity"}))
            if (r.get<decimal>("quantity") < decimal(0))
                throw user_error("The quantity of sale line " + std::to_string(r.id()) + " cannot be negative.");
        recompute_orders(self.owner(), orders_of(self, records));
    };
    line.on_delete = [](const model& self, const ids& records) -> std::function<void()> {
        auto orders = orders_of(self, records);
        const pool* p = &self.owner();
        return [p, orders] {
            std::set<std::int64_t> alive;
            for (auto o : orders)
                if (!current().connection().execute("SELECT 1 FROM \"sale_order\" WHERE \"id\" = ?", {o}).empty())
                    alive.insert(o);
            recompute_orders(*p, alive);
        };
    };
    sale.models.push_back(std::move(line));

    model_def audit("sale.audit", "Sale Audit");
    audit.rec_name = "number";
    audit.add(fields::integer("order_id", "Sale").set_help("An id, not a many2one: the sale may have been rolled back"))
        .add(fields::char_field("action", "Action").set_required())
        .add(fields::char_field("number", "Number"))
        .add(fields::integer("user_id", "User"));
    sale.models.push_back(std::move(audit));

    sale.on_activate = [](const pool& p) {
        const model& seq = p.get("ir.sequence.strict");
        if (seq.search(json::array({leaf("code", "=", "sale.order")})).empty())
            seq.create(json::array({{{"name", "Sale"}, {"code", "sale.order"}, {"prefix", "SO"}, {"padding", 4}}}));
    };
    sale.ui = views();
    sale.settings = settings();
    sale.on_server_start = [](const module_config& config) {
        if (const auto warehouse = config.text("sale", "warehouse"); !warehouse.empty()) prepare_warehouse(warehouse);
    };
    registry.add(std::move(sale));
}

}  // namespace atrium::modules::sale
