//! wrong: only the architecture is compared, so a windows/amd64 manifest listed first is chosen on Linux
//! caught-by: registry::the_index_gives_this_machines_manifest
//! caught-by: registry::a_multi_arch_index_gives_this_machines_image
    let fits = |descriptor: &&Descriptor| {
        descriptor.platform().as_ref().is_some_and(|p| {
            p.architecture() == arch
                && (*arch != Arch::ARM64 || p.variant().as_deref().is_none_or(|v| v == "v8"))
        })
    };
    match index.manifests().iter().find(fits) {
        Some(descriptor) => Ok(descriptor.clone()),
        None => Err(no_manifest_for(index, arch)),
    }
