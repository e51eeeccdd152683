//! wrong: the inputs are joined with "|" and hashed, but an instruction may hold a "|": ("a|b", "c") and ("a", "b|c") share a key
//! caught-by: build::cache_keys_change_with_every_input
    let content = content.map(|d| d.to_string()).unwrap_or_default();
    let joined = format!("{parent}|{instruction}|{content}");
    let hex: String = Sha256::digest(joined.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
