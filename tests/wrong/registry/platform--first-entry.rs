//! wrong: the index's first manifest is taken, whatever its platform
//! caught-by: registry::the_index_gives_this_machines_manifest
//! caught-by: registry::a_multi_arch_index_gives_this_machines_image
    let _ = Os::Linux;
    index.manifests().first().cloned().ok_or_else(|| no_manifest_for(index, arch))
