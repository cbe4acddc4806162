#pragma once
/// @file
/// @brief A connection's read buffer: 4 KiB blocks whose pages go back to the
/// kernel when the buffer is dropped (an idle connection holds none).

#include <boost/beast/core/flat_buffer.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <memory>
#include <new>
#include <vector>

namespace atrium::server {

namespace beast = boost::beast;

/// Page-aligned 4 KiB blocks for read buffers, per thread, whose pages go back
/// to the kernel when a block is freed: a buffer malloc freed would stay
/// resident (a hole between live allocations) for every idle connection.
class page_pool {
public:
    static constexpr std::size_t block_size = 4096;
    static constexpr std::size_t blocks_per_slab = 64;

    static bool usable() {
        static const bool page_sized = ::sysconf(_SC_PAGESIZE) == static_cast<long>(block_size);
        return page_sized;
    }
    static page_pool& local() {
        thread_local page_pool pool;
        return pool;
    }

    void* take() {
        if (free_.empty()) grow();
        void* block = free_.back();
        free_.pop_back();
        return block;
    }
    void give(void* block) noexcept {
        ::madvise(block, block_size, MADV_DONTNEED);
        free_.push_back(block);  // never reallocates: reserved for every block
    }

private:
    void grow() {
        void* slab = ::mmap(nullptr, block_size * blocks_per_slab, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                            -1, 0);
        if (slab == MAP_FAILED) throw std::bad_alloc();
        blocks_ += blocks_per_slab;
        free_.reserve(blocks_);
        for (std::size_t i = blocks_per_slab; i-- > 0;) free_.push_back(static_cast<char*>(slab) + i * block_size);
    }

    std::vector<void*> free_;
    std::size_t blocks_ = 0;  // slabs live as long as the process: a block may be freed on another thread
};

/// Read buffers of the first size (4 KiB) from the page_pool, others from the heap.
template <class T>
struct read_buffer_allocator {
    using value_type = T;
    read_buffer_allocator() noexcept = default;
    template <class U>
    read_buffer_allocator(const read_buffer_allocator<U>&) noexcept {}

    T* allocate(std::size_t n) {
        if (n * sizeof(T) == page_pool::block_size && page_pool::usable()) {
            return static_cast<T*>(page_pool::local().take());
        }
        return std::allocator<T>().allocate(n);
    }
    void deallocate(T* p, std::size_t n) noexcept {
        if (n * sizeof(T) == page_pool::block_size && page_pool::usable()) return page_pool::local().give(p);
        std::allocator<T>().deallocate(p, n);
    }
    friend bool operator==(const read_buffer_allocator&, const read_buffer_allocator&) noexcept { return true; }
};

using read_buffer = beast::basic_flat_buffer<read_buffer_allocator<char>>;

}  // namespace atrium::server
