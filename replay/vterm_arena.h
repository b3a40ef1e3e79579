#pragma once
// The memory of one libvterm instance, kept so that the emulator's complete state can be copied
// out and written back. libvterm allocates everything through its allocator hook and its only
// globals are constant tables, so the arena's live blocks, written back at the same addresses,
// are exactly the emulator as it was: cursor, modes, scroll region, charsets, parser state, both
// screens. That is what makes the player's keyframes exact rather than a redraw of the visible
// cells. An image holds the allocator's headers and the live blocks only, so memory freed after a
// resize (even to a huge screen and back) costs nothing in later images.

#include <cstddef>
#include <string>
#include <string_view>

namespace execaudit::replay {

class VtermArena {
public:
    /// Reserves address space only; pages are committed as the emulator touches them.
    explicit VtermArena(size_t reserve_bytes = size_t{1} << 30);
    ~VtermArena();
    VtermArena(const VtermArena&) = delete;
    VtermArena& operator=(const VtermArena&) = delete;

    /// Zeroed memory (libvterm expects calloc semantics); nullptr when the reservation is used up.
    void* allocate(size_t size);
    void release(void* ptr);

    /// Everything the emulator's state is made of, into `out` (replacing its contents).
    void save(std::string& out) const;
    size_t image_size() const;
    /// Writes back an image saved from this arena. False (and nothing changed) when `image` is
    /// not a well-formed one.
    bool restore(std::string_view image);

    /// The hooks to give vterm_new_with_allocator, with this arena as their data. Typed as void*
    /// so this header does not need vterm.h.
    static void* allocator_functions();

private:
    struct Header;
    Header& header() const;

    char* base_ = nullptr;
    size_t reserved_ = 0;
};

}  // namespace execaudit::replay
