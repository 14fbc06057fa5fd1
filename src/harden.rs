//! Process hardening that holds for the whole life of a process holding secrets (the server
//! with the provider keys, the built-in agent with its run token).

/// Mark this process non-dumpable: no core file, and `/proc/<pid>/{environ,mem,fd}` are no
/// longer readable by other processes of the same user (its children included), which would
/// otherwise read the keys there. Reset by `exec`, so children are unaffected.
pub fn non_dumpable() {
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        tracing::warn!("cannot mark the process non-dumpable: {e}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_process_becomes_non_dumpable() {
        super::non_dumpable();
        assert!(!nix::sys::prctl::get_dumpable().unwrap());
    }
}
