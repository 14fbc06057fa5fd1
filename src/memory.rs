//! Keeping the long-lived server small. glibc gives each thread that contends for the heap
//! an arena of its own (up to 8 per core), and the server's blocking threads come and go, so
//! freed memory stays scattered over arenas; two arenas and a trim after big jobs keep its
//! resident size close to what it holds. (libc is a direct dependency for these two calls.)

/// At server start: at most two malloc arenas.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; any value is accepted or refused.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// After a big job (a radar scan, a run's end): give freed heap pages back to the system.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it touches nothing in use.
    unsafe {
        libc::malloc_trim(0);
    }
}
