#pragma once
/// @file
/// @brief A temporary directory for a test: created with mkdtemp under $TMPDIR
/// (or /tmp), removed recursively when the object dies.

#include <filesystem>
#include <string>
#include <string_view>

namespace atrium::test {

class temp_dir {
public:
    /// Creates `$TMPDIR/<prefix>XXXXXX`. Throws std::system_error on failure.
    explicit temp_dir(std::string_view prefix = "atrium-test-");
    /// Removes the directory and everything in it (errors are ignored).
    ~temp_dir();

    temp_dir(temp_dir&& other) noexcept;
    temp_dir& operator=(temp_dir&& other) noexcept;
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    /// The absolute path of the directory (empty after a move).
    const std::filesystem::path& path() const noexcept { return path_; }
    /// path() / name.
    std::filesystem::path operator/(const std::filesystem::path& name) const { return path_ / name; }
    /// path() as a string.
    std::string string() const { return path_.string(); }

private:
    void remove() noexcept;

    std::filesystem::path path_;
};

}  // namespace atrium::test
