#pragma once
// `record --export-jsonl PATH`: JSON lines appended to a file that a log shipper (Filebeat,
// Fluent Bit, Vector) tails. Each batch is written whole lines at a time and fdatasync'ed before
// it counts as delivered. Rotation by size, the way shippers expect (logrotate's "create"): the
// full file is renamed PATH.1 (PATH.1 -> PATH.2 ..., the oldest beyond `keep` removed) and a new
// PATH is created; a line never straddles two files, and a shipper that follows the renamed file
// reads it to its end.

#include "common/unique_fd.h"
#include "export/destination.h"
#include "export/jsonl_format.h"

#include <cstdint>
#include <string>

namespace execaudit::exporting {

class JsonlFile final : public Destination {
public:
    struct Options {
        std::string path;
        uint64_t max_bytes = 100u << 20;  ///< rotate before a line would take the file past this
        unsigned keep = 5;                ///< rotated files kept (PATH.1 .. PATH.keep)
        JsonStyle style = JsonStyle::proto;
    };

    explicit JsonlFile(Options options);

    const std::string& name() const override { return name_; }
    std::expected<void, std::string> open() override;
    std::expected<void, std::string> send(std::span<const v1::ExportRecord> records, int64_t upto) override;
    std::expected<void, std::string> poll() override { return {}; }
    int64_t confirmed() const override { return confirmed_; }
    std::expected<void, std::string> finish() override { return {}; }
    void close() override { fd_.reset(); }
    void reset_to(int64_t position) override { confirmed_ = position; }

    uint64_t rotations() const { return rotations_; }

private:
    std::expected<void, std::string> rotate();
    std::expected<void, std::string> write_all(std::string_view bytes);

    Options options_;
    std::string name_;
    UniqueFd fd_;
    uint64_t size_ = 0;
    int64_t confirmed_ = 0;
    uint64_t rotations_ = 0;
};

}  // namespace execaudit::exporting
