#include "database/shared_counter.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace atrium::db {

namespace {

constexpr std::size_t k_mapped_size = sizeof(std::uint64_t);

[[noreturn]] void throw_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

// Lock-free 64-bit atomics on shared memory work across processes.
static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free);

}  // namespace

std::shared_ptr<shared_counter> shared_counter::open_file(const std::filesystem::path& file) {
    const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw_errno("cannot open the counter file " + file.string());
    // Allocated, not only sized: touching a hole of a mapped file on a full
    // file system is a SIGBUS (tmpfs allocates even on a read), while a failed
    // allocation here is an error the caller handles (sessions not cached).
    if (const int error = ::posix_fallocate(fd, 0, static_cast<off_t>(k_mapped_size)); error != 0) {
        ::close(fd);
        errno = error;
        throw_errno("cannot allocate the counter file " + file.string());
    }
    void* mapping = ::mmap(nullptr, k_mapped_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    const int saved = errno;
    ::close(fd);  // the mapping keeps the file
    errno = saved;
    if (mapping == MAP_FAILED) throw_errno("cannot map the counter file " + file.string());
    std::shared_ptr<shared_counter> out(new shared_counter());
    out->mapping_ = mapping;
    return out;
}

std::shared_ptr<shared_counter> shared_counter::in_process() {
    return std::shared_ptr<shared_counter>(new shared_counter());
}

shared_counter::~shared_counter() {
    if (mapping_) ::munmap(mapping_, k_mapped_size);
}

std::uint64_t shared_counter::load() const noexcept {
    if (!mapping_) return local_.load(std::memory_order_acquire);
    return std::atomic_ref<std::uint64_t>(*static_cast<std::uint64_t*>(mapping_)).load(std::memory_order_acquire);
}

void shared_counter::increment() noexcept {
    if (!mapping_) {
        local_.fetch_add(1, std::memory_order_acq_rel);
        return;
    }
    std::atomic_ref<std::uint64_t>(*static_cast<std::uint64_t*>(mapping_)).fetch_add(1, std::memory_order_acq_rel);
}

}  // namespace atrium::db
