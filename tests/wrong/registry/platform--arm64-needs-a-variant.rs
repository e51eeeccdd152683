//! wrong: on arm64 an entry must say variant v8, so an image that lists linux/arm64 without a variant (most do) has no manifest for arm64
//! caught-by: registry::the_index_gives_this_machines_manifest
    let fits = |descriptor: &&Descriptor| {
        descriptor.platform().as_ref().is_some_and(|p| {
            *p.os() == Os::Linux
                && p.architecture() == arch
                && (*arch != Arch::ARM64 || p.variant().as_deref() == Some("v8"))
        })
    };
    match index.manifests().iter().find(fits) {
        Some(descriptor) => Ok(descriptor.clone()),
        None => Err(no_manifest_for(index, arch)),
    }
