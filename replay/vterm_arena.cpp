#include "replay/vterm_arena.h"

#include <sys/mman.h>
#include <vterm.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <vector>

namespace execaudit::replay {
namespace {

constexpr uint64_t kMagic = 0x65617672656e6131;  // "eavrena1"
constexpr size_t kAlign = 16;
constexpr size_t kMinSplit = 64;  // a free remainder smaller than this stays with the block
constexpr size_t kTrimAbove = 16u << 20;  // give pages back when the top drops this far

size_t round_up(size_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }

// Every block starts with this; `next_free` links free blocks in address order.
struct Block {
    uint64_t size;  // including this header
    uint64_t next_free;  // offset of the next free block, 0 at the end (meaningful while free)
};
static_assert(sizeof(Block) == kAlign);

void* arena_malloc(size_t size, void* data) { return static_cast<VtermArena*>(data)->allocate(size); }
void arena_free(void* ptr, void* data) { static_cast<VtermArena*>(data)->release(ptr); }

VTermAllocatorFunctions arena_functions = {&arena_malloc, &arena_free};

}  // namespace

// Lives at offset 0 of the arena, so an image carries the allocator's state with it.
struct VtermArena::Header {
    uint64_t magic;
    uint64_t top;        // end of the highest block: an image is [0, top)
    uint64_t free_head;  // offset of the first free block, 0 when none
    uint64_t pad;  // keeps the first block 16-byte aligned
};


VtermArena::VtermArena(size_t reserve_bytes) : reserved_(reserve_bytes) {
    void* p = mmap(nullptr, reserved_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    base_ = static_cast<char*>(p);
    header() = Header{kMagic, sizeof(Header), 0, 0};
}

VtermArena::~VtermArena() { munmap(base_, reserved_); }

VtermArena::Header& VtermArena::header() const { return *reinterpret_cast<Header*>(base_); }

void* VtermArena::allocate(size_t size) {
    if (size > reserved_) return nullptr;
    size_t need = round_up(size) + sizeof(Block);
    Header& h = header();
    // First fit among freed blocks (libvterm frees only on resize, so the list is short).
    uint64_t* link = &h.free_head;
    while (*link) {
        auto* b = reinterpret_cast<Block*>(base_ + *link);
        if (b->size >= need) {
            uint64_t offset = *link;
            if (b->size - need >= kMinSplit) {
                auto* rest = reinterpret_cast<Block*>(base_ + offset + need);
                rest->size = b->size - need;
                rest->next_free = b->next_free;
                *link = offset + need;
                b->size = need;
            } else {
                *link = b->next_free;
            }
            std::memset(b + 1, 0, b->size - sizeof(Block));
            return b + 1;
        }
        link = &b->next_free;
    }
    if (need > reserved_ - h.top) return nullptr;
    auto* b = reinterpret_cast<Block*>(base_ + h.top);
    b->size = need;
    b->next_free = 0;
    h.top += need;
    std::memset(b + 1, 0, need - sizeof(Block));
    return b + 1;
}

void VtermArena::release(void* ptr) {
    if (!ptr) return;
    Header& h = header();
    auto* b = static_cast<Block*>(ptr) - 1;
    uint64_t offset = static_cast<uint64_t>(reinterpret_cast<char*>(b) - base_);
    // Insert in address order, merging with free neighbours.
    uint64_t prev = 0;
    uint64_t next = h.free_head;
    while (next && next < offset) {
        prev = next;
        next = reinterpret_cast<Block*>(base_ + next)->next_free;
    }
    b->next_free = next;
    if (next && offset + b->size == next) {
        auto* n = reinterpret_cast<Block*>(base_ + next);
        b->size += n->size;
        b->next_free = n->next_free;
    }
    if (prev) {
        auto* p = reinterpret_cast<Block*>(base_ + prev);
        if (prev + p->size == offset) {
            p->size += b->size;
            p->next_free = b->next_free;
            b = p;
            offset = prev;
        } else {
            p->next_free = offset;
        }
    } else {
        h.free_head = offset;
    }
    // A free block reaching the top is the last one in address order: drop it from the list and
    // lower the top, so images stay as small as the live state.
    if (offset + b->size == h.top) {
        uint64_t* link = &h.free_head;
        while (*link != offset) link = &reinterpret_cast<Block*>(base_ + *link)->next_free;
        *link = 0;
        uint64_t old_top = h.top;
        h.top = offset;
        if (old_top - h.top >= kTrimAbove) {  // e.g. after a hostile resize to a huge screen
            uintptr_t from = (reinterpret_cast<uintptr_t>(base_) + h.top + 4095) & ~uintptr_t{4095};
            uintptr_t to = reinterpret_cast<uintptr_t>(base_) + old_top;
            if (to > from) madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
        }
    }
}

// Walks the blocks from `first` to `top`: on_block(offset, block, is_free).
template <typename F>
static void for_each_block(const char* base, uint64_t first, uint64_t top, uint64_t free_head, F on_block) {
    uint64_t next_free = free_head;
    for (uint64_t offset = first; offset < top;) {
        const auto* b = reinterpret_cast<const Block*>(base + offset);
        bool is_free = offset == next_free;
        if (is_free) next_free = b->next_free;
        on_block(offset, *b, is_free);
        offset += b->size;
    }
}

void VtermArena::save(std::string& out) const {
    const Header& h = header();
    out.clear();
    out.append(base_, sizeof(Header));
    for_each_block(base_, sizeof(Header), h.top, h.free_head, [&](uint64_t offset, const Block& b, bool is_free) {
        // a free block keeps its header (the allocator needs it), never its stale contents
        out.append(base_ + offset, is_free ? sizeof(Block) : b.size);
    });
}

size_t VtermArena::image_size() const {
    const Header& h = header();
    size_t n = sizeof(Header);
    for_each_block(base_, sizeof(Header), h.top, h.free_head,
                   [&](uint64_t, const Block& b, bool is_free) { n += is_free ? sizeof(Block) : b.size; });
    return n;
}

bool VtermArena::restore(std::string_view image) {
    Header h;
    if (image.size() < sizeof(h)) return false;
    std::memcpy(&h, image.data(), sizeof(h));
    if (h.magic != kMagic || h.top > reserved_ || h.top < sizeof(Header)) return false;
    // Check the whole image before writing anything: its blocks tile [header, top) exactly and
    // the free list visits free blocks in address order.
    struct Copy {
        uint64_t offset;
        size_t pos, size;
    };
    std::vector<Copy> copies;
    size_t pos = sizeof(Header);
    uint64_t offset = sizeof(Header);
    uint64_t next_free = h.free_head;
    while (offset < h.top) {
        Block b;
        if (image.size() - pos < sizeof(Block)) return false;
        std::memcpy(&b, image.data() + pos, sizeof(b));
        if (b.size < sizeof(Block) || b.size % kAlign || b.size > h.top - offset) return false;
        if (next_free && next_free < offset) return false;
        bool is_free = offset == next_free;
        if (is_free) next_free = b.next_free;
        size_t stored = is_free ? sizeof(Block) : b.size;
        if (image.size() - pos < stored) return false;
        copies.push_back({offset, pos, stored});
        pos += stored;
        offset += b.size;
    }
    if (pos != image.size() || next_free) return false;
    std::memcpy(base_, image.data(), sizeof(Header));
    for (const auto& c : copies) std::memcpy(base_ + c.offset, image.data() + c.pos, c.size);
    return true;
}

void* VtermArena::allocator_functions() { return &arena_functions; }

}  // namespace execaudit::replay
