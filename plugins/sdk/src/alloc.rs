//! A per-size free-list cache in front of a general allocator, for single-threaded WebAssembly
//! guests.
//!
//! A parser allocates and frees the same few small sizes for every record (column names,
//! short text values, column lists, the canonical ABI's result arrays), and a general-purpose
//! allocator spends most of its time finding, splitting and merging blocks for them: in the
//! built-in JSON parser the allocator was a fifth of the time spent in wasm. [`SizeClassCache`]
//! rounds small requests up to a multiple of 16 bytes and keeps freed blocks on one list per
//! size, so the steady state is a list pop and a list push; larger or over-aligned requests go
//! to the wrapped allocator unchanged.
//!
//! Freed small blocks stay on their list (they are not merged back), so a guest's memory is
//! bounded by its peak use per size, which the host's memory limit caps like any other
//! allocation.
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: SizeClassCache<talc::wasm::WasmDynamicTalc> =
//!     SizeClassCache::new(talc::wasm::new_wasm_dynamic_allocator());
//! ```

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr;

/// Granularity of the size classes, and the alignment every cached block has.
const GRANULE: usize = 16;
/// Largest request served from the cache; larger ones go to the wrapped allocator.
const MAX_CACHED: usize = 1024;
const CLASSES: usize = MAX_CACHED / GRANULE;

/// A free-list cache of small blocks in front of the allocator `A`. Only for a guest without
/// threads (the lists are not synchronised), which is every sluice plugin; it is `Sync`, and
/// so usable as the `#[global_allocator]`, only there.
pub struct SizeClassCache<A> {
    inner: A,
    /// Head of the free list of each class; a free block's first word points to the next.
    free: UnsafeCell<[*mut u8; CLASSES]>,
}

// SAFETY: only on WebAssembly without the `atomics` feature, where a guest has a single
// thread, so the lists are never touched concurrently. (Natively the type is not `Sync` and
// cannot be a global allocator.)
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
unsafe impl<A: Sync> Sync for SizeClassCache<A> {}

impl<A> SizeClassCache<A> {
    /// Wraps `inner`, which serves every block the cache does not hold yet.
    pub const fn new(inner: A) -> Self {
        Self { inner, free: UnsafeCell::new([ptr::null_mut(); CLASSES]) }
    }
}

/// The class index of a layout the cache serves, or none.
fn class(layout: Layout) -> Option<usize> {
    (layout.size() <= MAX_CACHED && layout.align() <= GRANULE).then(|| layout.size().max(1).div_ceil(GRANULE) - 1)
}

fn class_layout(class: usize) -> Layout {
    // SAFETY: a non-zero multiple of 16 with alignment 16 is a valid layout.
    unsafe { Layout::from_size_align_unchecked((class + 1) * GRANULE, GRANULE) }
}

unsafe impl<A: GlobalAlloc> GlobalAlloc for SizeClassCache<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class(layout) else {
            // SAFETY: forwarded with the caller's guarantees.
            return unsafe { self.inner.alloc(layout) };
        };
        // SAFETY: single-threaded (see the `Sync` impl); a listed block is free, owned by the
        // cache and at least one word long, its first word holding the next free block.
        unsafe {
            let head = &mut (*self.free.get())[class];
            if head.is_null() {
                return self.inner.alloc(class_layout(class));
            }
            let block = *head;
            *head = block.cast::<*mut u8>().read();
            block
        }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(class) = class(layout) else {
            // SAFETY: the block came from `inner` with this layout (see `alloc`).
            return unsafe { self.inner.dealloc(block, layout) };
        };
        // SAFETY: the block is a cached-size block the caller no longer uses; it is 16-byte
        // aligned and at least 16 bytes long, so its first word can hold the list link.
        unsafe {
            let head = &mut (*self.free.get())[class];
            block.cast::<*mut u8>().write(*head);
            *head = block;
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` with `layout.align()` is a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class(layout), class(new_layout)) {
            (Some(old), Some(new)) if old == new => block,
            // SAFETY: both blocks belong to `inner` with these layouts.
            (None, None) => unsafe { self.inner.realloc(block, layout, new_size) },
            _ => {
                // SAFETY: a fresh block of the new layout; the old one is valid for
                // `min(old, new)` bytes and is released with the layout it was allocated with.
                unsafe {
                    let moved = self.alloc(new_layout);
                    if !moved.is_null() {
                        ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                        self.dealloc(block, layout);
                    }
                    moved
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    #[test]
    fn freed_blocks_are_reused_per_size_and_contents_survive_a_realloc() {
        let cache = SizeClassCache::new(System);
        unsafe {
            let small = Layout::from_size_align(24, 8).unwrap();
            let a = cache.alloc(small);
            a.write_bytes(7, 24);
            cache.dealloc(a, small);
            let b = cache.alloc(Layout::from_size_align(30, 4).unwrap());
            assert_eq!(a, b, "a 30-byte request reuses the freed 24-byte block (both 32-byte class)");
            let other = cache.alloc(Layout::from_size_align(40, 8).unwrap());
            assert_ne!(other, b, "a different class gets a different block");

            b.write_bytes(9, 30);
            let grown = cache.realloc(b, Layout::from_size_align(30, 4).unwrap(), 4000);
            assert!(std::slice::from_raw_parts(grown, 30).iter().all(|&x| x == 9));
            let shrunk = cache.realloc(grown, Layout::from_size_align(4000, 4).unwrap(), 20);
            assert!(std::slice::from_raw_parts(shrunk, 20).iter().all(|&x| x == 9));
            assert_eq!(shrunk, b, "shrinking back into the 32-byte class reuses its freed block");
            cache.dealloc(shrunk, Layout::from_size_align(20, 4).unwrap());
            cache.dealloc(other, Layout::from_size_align(40, 8).unwrap());

            let aligned = Layout::from_size_align(64, 64).unwrap();
            let big = cache.alloc(aligned);
            assert_eq!(big as usize % 64, 0, "over-aligned requests go to the wrapped allocator");
            cache.dealloc(big, aligned);
        }
    }
}
