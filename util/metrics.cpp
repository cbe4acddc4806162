#include "util/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <unistd.h>

namespace atrium::metrics {

namespace {

std::atomic<bool> recording{true};
std::atomic<std::size_t> next_shard{0};

struct series {
    labels series_labels;
    counter* c = nullptr;
    histogram* h = nullptr;
};

struct family_entry {
    std::string help;
    std::string type;
    std::vector<series> members;
};

/// Registration and scrapes only (never the hot path).
struct registry {
    std::mutex mutex;
    std::map<std::string, family_entry, std::less<>> families;
    std::deque<counter> counters;  // stable addresses
    std::deque<std::unique_ptr<histogram>> histograms;
    std::mutex collectors_mutex;   // held while collectors run: unregistering waits for a scrape
    std::map<std::uint64_t, collector> collectors;
    std::uint64_t next_id = 1;
};

registry& the_registry() {
    static registry* r = new registry;  // never destroyed: series outlive static destructors
    return *r;
}

std::string format_value(double v) {
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (std::isnan(v)) return "NaN";
    if (v == std::floor(v) && std::fabs(v) < 1e15) {
        char buffer[32];
        std::snprintf(buffer, sizeof buffer, "%.0f", v);
        return buffer;
    }
    char buffer[40];
    std::snprintf(buffer, sizeof buffer, "%.9g", v);
    return buffer;
}

void append_labels(std::string& out, const labels& series_labels, std::string_view extra_name = {},
                   std::string_view extra_value = {}) {
    if (series_labels.empty() && extra_name.empty()) return;
    out += '{';
    bool first = true;
    for (const auto& [name, value] : series_labels) {
        if (!first) out += ',';
        first = false;
        out += name;
        out += "=\"";
        out += escape_label(value);
        out += '"';
    }
    if (!extra_name.empty()) {
        if (!first) out += ',';
        out += extra_name;
        out += "=\"";
        out += extra_value;
        out += '"';
    }
    out += '}';
}

family_entry& family_for(registry& r, std::string_view name, std::string_view help, std::string_view type) {
    auto it = r.families.find(name);
    if (it == r.families.end()) it = r.families.emplace(std::string(name), family_entry{std::string(help), std::string(type), {}}).first;
    return it->second;
}

}  // namespace

void set_enabled(bool on) noexcept { recording.store(on, std::memory_order_relaxed); }
bool enabled() noexcept { return recording.load(std::memory_order_relaxed); }

std::size_t this_shard() noexcept {
    thread_local const std::size_t shard = next_shard.fetch_add(1, std::memory_order_relaxed) % shard_count;
    return shard;
}

std::uint64_t counter::value() const noexcept {
    std::uint64_t total = 0;
    for (const auto& s : slots_) total += s.value.load(std::memory_order_relaxed);
    return total;
}

histogram::histogram(std::initializer_list<double> bounds) {
    for (double b : bounds) {
        if (size_ == max_bounds) break;
        bounds_[size_++] = b;
    }
}

void histogram::observe(double v) noexcept {
    if (!enabled()) return;
    std::size_t i = 0;
    while (i < size_ && v > bounds_[i]) ++i;
    auto& s = slots_[this_shard()];
    s.buckets[i].fetch_add(1, std::memory_order_relaxed);
    const double nanos = v > 0 ? v * 1e9 : 0;
    s.sum_nanos.fetch_add(static_cast<std::uint64_t>(nanos), std::memory_order_relaxed);
}

histogram::snapshot histogram::read() const {
    snapshot out;
    out.bounds.assign(bounds_.begin(), bounds_.begin() + static_cast<std::ptrdiff_t>(size_));
    std::vector<std::uint64_t> counts(size_ + 1, 0);
    std::uint64_t nanos = 0;
    for (const auto& s : slots_) {
        for (std::size_t i = 0; i <= size_; ++i) counts[i] += s.buckets[i].load(std::memory_order_relaxed);
        nanos += s.sum_nanos.load(std::memory_order_relaxed);
    }
    std::uint64_t running = 0;
    for (auto c : counts) {
        running += c;
        out.cumulative.push_back(running);
    }
    out.count = running;
    out.sum = static_cast<double>(nanos) / 1e9;
    return out;
}

counter& register_counter(std::string_view name, std::string_view help, labels series_labels) {
    auto& r = the_registry();
    std::lock_guard lock(r.mutex);
    auto& fam = family_for(r, name, help, "counter");
    for (auto& s : fam.members) {
        if (s.series_labels == series_labels && s.c) return *s.c;
    }
    counter& c = r.counters.emplace_back();
    fam.members.push_back({std::move(series_labels), &c, nullptr});
    return c;
}

histogram& register_histogram(std::string_view name, std::string_view help, labels series_labels,
                              std::initializer_list<double> bounds) {
    auto& r = the_registry();
    std::lock_guard lock(r.mutex);
    auto& fam = family_for(r, name, help, "histogram");
    for (auto& s : fam.members) {
        if (s.series_labels == series_labels && s.h) return *s.h;
    }
    histogram& h = *r.histograms.emplace_back(std::make_unique<histogram>(bounds));
    fam.members.push_back({std::move(series_labels), nullptr, &h});
    return h;
}

void writer::family(std::string_view name, std::string_view type, std::string_view help) {
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
        if (blocks_[i].first == name) {
            current_ = i;
            return;
        }
    }
    current_ = blocks_.size();
    auto& out = blocks_.emplace_back(std::string(name), std::string()).second;
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

void writer::sample(std::string_view name, const labels& series_labels, double value) {
    auto& out = text();
    out += name;
    append_labels(out, series_labels);
    out += ' ';
    out += format_value(value);
    out += '\n';
}

std::string writer::finish() const {
    std::string out;
    for (const auto& block : blocks_) out += block.second;
    return out;
}

collector_handle::collector_handle(collector fn) {
    auto& r = the_registry();
    std::lock_guard lock(r.collectors_mutex);
    id_ = r.next_id++;
    r.collectors.emplace(id_, std::move(fn));
}

collector_handle::~collector_handle() {
    if (id_ == 0) return;
    auto& r = the_registry();
    std::lock_guard lock(r.collectors_mutex);
    r.collectors.erase(id_);
}

collector_handle& collector_handle::operator=(collector_handle&& other) noexcept {
    if (this != &other) {
        collector_handle dropped(std::move(*this));
        id_ = std::exchange(other.id_, 0);
    }
    return *this;
}

std::string render() {
    auto& r = the_registry();
    writer w;
    {
        std::lock_guard lock(r.mutex);
        for (const auto& [name, fam] : r.families) {
            w.family(name, fam.type, fam.help);
            for (const auto& s : fam.members) {
                if (s.c) {
                    w.sample(name, s.series_labels, static_cast<double>(s.c->value()));
                    continue;
                }
                const auto snap = s.h->read();
                auto& out = w.text();
                for (std::size_t i = 0; i < snap.cumulative.size(); ++i) {
                    out += name;
                    out += "_bucket";
                    append_labels(out, s.series_labels, "le",
                                  i < snap.bounds.size() ? format_value(snap.bounds[i]) : "+Inf");
                    out += ' ';
                    out += std::to_string(snap.cumulative[i]);
                    out += '\n';
                }
                w.sample(std::string(name) + "_sum", s.series_labels, snap.sum);
                w.sample(std::string(name) + "_count", s.series_labels, static_cast<double>(snap.count));
            }
        }
    }
    {
        std::lock_guard lock(r.collectors_mutex);
        for (const auto& [id, fn] : r.collectors) fn(w);
    }
    w.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    w.sample("process_resident_memory_bytes", resident_memory_bytes());
    return w.finish();
}

std::string escape_label(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

double resident_memory_bytes() {
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, resident = 0;
    const int n = std::fscanf(f, "%lu %lu", &size, &resident);
    std::fclose(f);
    if (n != 2) return 0;
    return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

}  // namespace atrium::metrics
