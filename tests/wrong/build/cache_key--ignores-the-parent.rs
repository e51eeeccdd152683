//! wrong: the key leaves out the parent, so a step after a changed one still hits the cache
//! caught-by: build::cache_keys_change_with_every_input
//! caught-by: build::the_cache_hits_on_a_rebuild_and_misses_after_a_change
    let _ = parent;
    let mut hasher = Sha256::new();
    for part in [instruction, &content.map(|d| d.to_string()).unwrap_or_default()] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let hex: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
