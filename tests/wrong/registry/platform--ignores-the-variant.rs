//! wrong: on arm64 the variant is not looked at, so an arm64/v7 entry listed before arm64/v8 is chosen
//! caught-by: registry::the_index_gives_this_machines_manifest
    let fits = |descriptor: &&Descriptor| {
        descriptor.platform().as_ref().is_some_and(|p| {
            *p.os() == Os::Linux
                && p.architecture() == arch
        })
    };
    match index.manifests().iter().find(fits) {
        Some(descriptor) => Ok(descriptor.clone()),
        None => Err(no_manifest_for(index, arch)),
    }
