//! wrong: the inputs are hashed one after the other with nothing between them, so ("ab", "c") and ("a", "bc") share a key
//! caught-by: build::cache_keys_change_with_every_input
    let mut hasher = Sha256::new();
    hasher.update(parent.as_bytes());
    hasher.update(instruction.as_bytes());
    if let Some(content) = content {
        hasher.update(content.to_string().as_bytes());
    }
    let hex: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
